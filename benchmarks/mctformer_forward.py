"""MCTformer-V2 (DeiT-S) forward with attention maps, DOEI off and on.

    python benchmarks/mctformer_forward.py [--repeats 10] [--authors-repo PATH]

Times ``model.cams`` (one forward pass that keeps every block's attention and
builds the fused CAMs), 224 x 224, batch 1 and 8, eval mode. With
``--authors-repo`` pointing at a checkout of xulianuwa/MCTformer at commit
9606597 (the last with V1/V2), the authors' own model is timed in the same
run on the same weights and input (``model(x, return_att=True)``), and the
ratios are against it. Their code is imported from that path at run time; it is
not part of this repository.
"""
import argparse
import os.path as osp
import sys
from functools import partial

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))

import torch  # noqa: E402
from mmpretrain.registry import MODELS  # noqa: E402
from timing import env_line, median_ms, table, time_interleaved  # noqa: E402

import mmdoei  # noqa: E402,F401
from mmdoei.models.utils import convert_mctformer  # noqa: E402


def ours(doei: bool):
    cfg = dict(type='MCTformerV2', num_classes=20, backbone=dict(arch='deit-small', img_size=224),
               cam_cfg=dict(type='fused', last_n=3, refine=True))
    if doei:
        cfg['doei'] = dict()
    return MODELS.build(cfg).eval()


def authors(repo: str):
    sys.path.insert(0, repo)
    import torch.nn as nn
    from models import MCTformerV2  # noqa: the authors' models.py, from --authors-repo
    return MCTformerV2(patch_size=16, embed_dim=384, depth=12, num_heads=6, mlp_ratio=4, qkv_bias=True,
                       norm_layer=partial(nn.LayerNorm, eps=1e-6), num_classes=20).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--authors-repo', help='checkout of xulianuwa/MCTformer @ 9606597')
    args = parser.parse_args()
    torch.manual_seed(0)
    models = {'ours, DOEI off': ours(False), 'ours, DOEI on': ours(True)}
    models['ours, DOEI on'].load_state_dict(models['ours, DOEI off'].state_dict())
    ref_name = 'ours, DOEI off'
    if args.authors_repo:
        theirs = authors(args.authors_repo)
        state = convert_mctformer({'model': theirs.state_dict()})
        for m in models.values():
            m.load_state_dict(state)
        models = {'authors': theirs, **models}
        ref_name = 'authors'
    rows = []
    for batch in (1, 8):
        x = torch.randn(batch, 3, 224, 224)
        fns = {}
        for name, m in models.items():
            if name == 'authors':
                fns[name] = partial(torch.no_grad()(m), x, return_att=True, n_layers=3, attention_type='fused')
            else:
                fns[name] = partial(torch.no_grad()(m.cams), x)
        times = time_interleaved(fns, args.repeats)
        ref = median_ms(times[ref_name])
        rows.append([str(batch)] + [f'{median_ms(t):.0f} ({median_ms(t) / ref:.2f}x)' for t in times.values()])
        print(f'batch {batch}: done', file=sys.stderr)
    print(f'MCTformer-V2 DeiT-S forward with attention maps + fused CAMs, 224 x 224, CPU, median of '
          f'{args.repeats} interleaved rounds; {env_line()}')
    print(f'ms per call (ratio to "{ref_name}")\n')
    print(table(rows, ['batch'] + list(models)))


if __name__ == '__main__':
    main()
