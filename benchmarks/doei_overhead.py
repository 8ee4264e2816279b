"""What DOEI costs on DeiT-S: forward and forward+backward, DOEI off vs on.

    python benchmarks/doei_overhead.py [--batch 8] [--repeats 7] [--device cpu]

DeiT-S (12 blocks, 384 channels, 224 x 224 input) with 20 class tokens
(MCTformer on VOC) and with 1 (TS-CAM, TransCAM). Variants, all with the same
weights:
- ``fused``: torch's fused attention, no attention maps (what a classifier uses),
- ``maps``: explicit attention keeping every block's map (what CAM extraction
  needs); the reference of the ratios,
- ``doei``: DOEI on all blocks without HFA (``alpha = 0``),
- ``doei+hfa``: DOEI with HFA (``alpha = 0.35``).
Medians over interleaved rounds; the ratio is against ``maps`` of the same row.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))

import torch  # noqa: E402
from timing import env_line, median_ms, table, time_interleaved  # noqa: E402

import mmdoei  # noqa: E402,F401
from mmdoei.doei import attach_doei  # noqa: E402
from mmdoei.models.backbones import MCTVisionTransformer  # noqa: E402


def build(num_cls: int, variant: str) -> MCTVisionTransformer:
    torch.manual_seed(0)
    m = MCTVisionTransformer(num_class_tokens=num_cls, arch='deit-small', img_size=224, patch_size=16)
    if variant.startswith('doei'):
        attach_doei(m, alpha=0.35 if variant == 'doei+hfa' else 0.)
    m.set_need_attn(variant != 'fused')
    return m


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args()
    x = torch.randn(args.batch, 3, 224, 224, device=args.device)
    variants = ('fused', 'maps', 'doei', 'doei+hfa')
    rows = []
    for num_cls in (20, 1):
        base = build(num_cls, 'fused')
        models = {}
        for v in variants:
            m = build(num_cls, v).to(args.device)
            m.load_state_dict(base.state_dict())
            models[v] = m
        for mode in ('forward', 'forward+backward'):
            def make(m, mode=mode):
                if mode == 'forward':
                    m.eval()
                    return lambda: torch.no_grad()(m)(x)
                m.train()
                return lambda: m(x)[0].sum().backward()
            times = time_interleaved({v: make(models[v]) for v in variants}, args.repeats)
            ref = median_ms(times['maps'])
            rows.append([str(num_cls), mode] + [f'{median_ms(times[v]):.0f} ({median_ms(times[v]) / ref:.2f}x)'
                                                for v in variants])
            print(f'C={num_cls} {mode}: done', file=sys.stderr)
    print(f'DeiT-S, {args.batch} x 3 x 224 x 224, {args.device}, median of {args.repeats} '
          f'interleaved rounds; {env_line()}')
    print('ms per call (ratio to "maps", the same model keeping its attention maps)\n')
    print(table(rows, ['class tokens', 'pass'] + list(variants)))


if __name__ == '__main__':
    main()
