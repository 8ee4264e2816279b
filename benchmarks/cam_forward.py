"""Forward with CAMs for TS-CAM (DeiT-S) and TransCAM (Conformer-S), DOEI off and on.

    python benchmarks/cam_forward.py [--batch 1] [--repeats 10]

Times ``model.cams`` (one forward pass keeping every block's attention, then
the CAM formula), 224 x 224, eval mode, same weights for both settings.
Medians over interleaved rounds; the ratio is DOEI on over DOEI off.
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

MODELS_TO_TIME = {
    'TS-CAM (DeiT-S)': dict(type='TSCAM', num_classes=20, backbone=dict(arch='deit-small', img_size=224)),
    'TransCAM (Conformer-S)': dict(type='TransCAM', num_classes=20, backbone=dict(arch='small')),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--repeats', type=int, default=10)
    args = parser.parse_args()
    x = torch.randn(args.batch, 3, 224, 224)
    rows = []
    for name, cfg in MODELS_TO_TIME.items():
        torch.manual_seed(0)
        off = MODELS.build(cfg).eval()
        on = MODELS.build({**cfg, 'doei': dict()}).eval()
        on.load_state_dict(off.state_dict())
        times = time_interleaved({'off': partial(torch.no_grad()(off.cams), x),
                                  'on': partial(torch.no_grad()(on.cams), x)}, args.repeats)
        t_off, t_on = median_ms(times['off']), median_ms(times['on'])
        rows.append([name, f'{t_off:.0f}', f'{t_on:.0f}', f'{t_on / t_off:.2f}x'])
        print(f'{name}: done', file=sys.stderr)
    print(f'forward with CAMs, {args.batch} x 3 x 224 x 224, CPU, median of {args.repeats} '
          f'interleaved rounds; {env_line()}\n')
    print(table(rows, ['model', 'DOEI off (ms)', 'DOEI on (ms)', 'on / off']))


if __name__ == '__main__':
    main()
