"""Convert a released MCTformer-V1/V2 checkpoint to mmdoei's format.

    python tools/model_converters/mctformer2mmdoei.py MCTformer_v2.pth mctformer-v2_voc.pth

The source is the authors' ``{'model': state_dict}`` file; it is read with
``weights_only=True``. The output is ``{'state_dict': ..., 'meta': ...}`` as
mmengine writes it, loadable with ``load_from`` or ``tools/test.py``.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '../..'))

# torch and mmdoei are imported in main(), after the arguments are parsed: --help answers at once.


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help="the authors' checkpoint")
    parser.add_argument('dst', help='output path')
    args = parser.parse_args()

    import torch

    from mmdoei.models.utils import convert_mctformer
    from mmdoei.utils import atomic_write

    ckpt = torch.load(args.src, map_location='cpu', weights_only=True)
    state = convert_mctformer(ckpt)
    version = 'v2' if 'head.conv.weight' in state else 'v1'
    num_classes = state['backbone.cls_token'].shape[1]
    with atomic_write(args.dst) as f:
        torch.save({'state_dict': state, 'meta': dict(source=osp.basename(args.src),
                                                      mctformer=version, num_classes=num_classes)}, f)
    print(f'{args.src} -> {args.dst}: MCTformer-{version.upper()}, {num_classes} classes, '
          f'{len(state)} tensors')


if __name__ == '__main__':
    main()
