"""What DOEI costs on DeiT-S: forward and forward+backward, DOEI off vs on.

    python benchmarks/doei_overhead.py [--batch 8] [--repeats 7] [--device cpu]
                                       [--tables mct families]

DeiT-S (12 blocks, 384 channels, 224 x 224 input) with 20 class tokens
(MCTformer on VOC) and with 1 (TS-CAM, TransCAM). Variants, all with the same
weights:
- ``fused``: torch's fused attention, no attention maps (what a classifier uses),
- ``maps``: explicit attention keeping every block's map (what CAM extraction
  needs); the reference of the ratios,
- ``doei``: DOEI on all blocks without HFA (``alpha = 0``),
- ``doei+hfa``: DOEI with HFA (``alpha = 0.35``).
Medians over interleaved rounds; the ratio is against ``maps`` of the same row.

The ``families`` table has one row per attention family DOEI reads
(``mmdoei.doei.FAMILIES``), each a DeiT-S-sized backbone (12 blocks, 384
channels, 6 heads, 196 patches, one class token) built by its upstream
registry: ``maps`` is that model with every block keeping its attention map
(the family's adapter, ``need_attn``), ``doei+hfa`` the same model with DOEI and
HFA on all blocks. The goal is at most 1.10x.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))

import torch  # noqa: E402
from timing import env_line, median_ms, table, time_interleaved  # noqa: E402

import mmdoei  # noqa: E402,F401
from mmdoei.doei import adapt_attention, attach_doei  # noqa: E402
from mmdoei.doei.attach import find_transformer_blocks  # noqa: E402
from mmdoei.models.backbones import MCTVisionTransformer  # noqa: E402


def build(num_cls: int, variant: str) -> MCTVisionTransformer:
    torch.manual_seed(0)
    m = MCTVisionTransformer(num_class_tokens=num_cls, arch='deit-small', img_size=224, patch_size=16)
    if variant.startswith('doei'):
        attach_doei(m, alpha=0.35 if variant == 'doei+hfa' else 0.)
    m.set_need_attn(variant != 'fused')
    return m


DEIT_S = dict(embed_dims=384, num_layers=12, num_heads=6, feedforward_channels=1536)
# (family, registry scope, backbone config): DeiT-S sizes in every family.
FAMILY_MODELS = (
    ('mmpretrain MultiheadAttention', 'mmpretrain',
     dict(type='VisionTransformer', arch='deit-small', img_size=224, patch_size=16)),
    ('mmcv MultiheadAttention', 'mmseg',
     dict(type='VisionTransformer', img_size=224, patch_size=16, embed_dims=384, num_layers=12,
          num_heads=6, mlp_ratio=4)),
    ('timm Attention', 'mmpretrain',
     dict(type='TIMMBackbone', model_name='deit_small_patch16_224', pretrained=False)),
    ('mmpretrain BEiTAttention', 'mmpretrain',
     dict(type='BEiTViT', arch=DEIT_S, img_size=224, patch_size=16)),
    ('mmpretrain AttentionWithRoPE', 'mmpretrain',
     dict(type='ViTEVA02', arch=dict(DEIT_S, feedforward_channels=1024), img_size=224, patch_size=16)),
)


def build_family(scope: str, cfg: dict, variant: str) -> torch.nn.Module:
    """The family's DeiT-S-sized backbone keeping every block's map (``maps``) or with DOEI."""
    if scope == 'mmseg':
        from mmseg.registry import MODELS
    else:
        from mmpretrain.registry import MODELS
    torch.manual_seed(0)
    m = MODELS.build(cfg)
    for block in find_transformer_blocks(m):
        block.attn = adapt_attention(block.attn)
        block.attn.need_attn = True
    if variant == 'doei+hfa':
        attach_doei(m, alpha=0.35)
    return m


def time_passes(models: dict, x: torch.Tensor, repeats: int) -> dict:
    """``{pass: {variant: times}}``: eval forward and train forward+backward (the sum of
    every tensor output), the variants interleaved round by round."""
    def make(m, mode):
        if mode == 'forward':
            m.eval()
            return lambda: torch.no_grad()(m)(x)
        m.train()
        return lambda: sum(o.float().sum() for o in m(x) if torch.is_tensor(o)).backward()
    return {mode: time_interleaved({v: make(m, mode) for v, m in models.items()}, repeats)
            for mode in ('forward', 'forward+backward')}


def family_rows(x: torch.Tensor, repeats: int, device: str) -> list:
    rows = []
    for family, scope, cfg in FAMILY_MODELS:
        models = {v: build_family(scope, cfg, v).to(device) for v in ('maps', 'doei+hfa')}
        models['doei+hfa'].load_state_dict(models['maps'].state_dict())
        for mode, times in time_passes(models, x, repeats).items():
            ref, ours = median_ms(times['maps']), median_ms(times['doei+hfa'])
            rows.append([family, mode, f'{ref:.0f}', f'{ours:.0f}', f'{ours / ref:.2f}x'])
            print(f'{family} {mode}: done', file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--tables', nargs='+', choices=('mct', 'families'), default=['mct', 'families'],
                        help='mct: MCTformer DeiT-S, C = 20 and 1; families: one row per attention family')
    args = parser.parse_args()
    x = torch.randn(args.batch, 3, 224, 224, device=args.device)
    print(f'{args.batch} x 3 x 224 x 224, {args.device}, median of {args.repeats} interleaved rounds; '
          f'{env_line()}\n')
    if 'mct' in args.tables:
        mct_table(x, args.repeats, args.device)
    if 'families' in args.tables:
        rows = family_rows(x, args.repeats, args.device)
        print('\nDOEI + HFA on all 12 blocks against the same model keeping its maps, per attention '
              'family (DeiT-S sizes, C = 1; ms per call)\n')
        print(table(rows, ['attention family', 'pass', 'maps', 'doei+hfa', 'ratio']))


def mct_table(x: torch.Tensor, repeats: int, device: str) -> None:
    """MCTformer's DeiT-S with 20 and 1 class tokens: fused, maps, DOEI, DOEI + HFA."""
    variants = ('fused', 'maps', 'doei', 'doei+hfa')
    rows = []
    for num_cls in (20, 1):
        base = build(num_cls, 'fused')
        models = {}
        for v in variants:
            m = build(num_cls, v).to(device)
            m.load_state_dict(base.state_dict())
            models[v] = m
        for mode, times in time_passes(models, x, repeats).items():
            ref = median_ms(times['maps'])
            rows.append([str(num_cls), mode] + [f'{median_ms(times[v]):.0f} ({median_ms(times[v]) / ref:.2f}x)'
                                                for v in variants])
            print(f'C={num_cls} {mode}: done', file=sys.stderr)
    print('MCTformer DeiT-S; ms per call (ratio to "maps", the same model keeping its attention maps)\n')
    print(table(rows, ['class tokens', 'pass'] + list(variants)))


if __name__ == '__main__':
    main()
