"""Convert a TS-CAM checkpoint (vasgaowei/TS-CAM, DeiT backbone) to mmdoei's format.

    python tools/model_converters/tscam2mmdoei.py model_best.pth tscam_deit-s.pth

The source is what the authors' ``train_cam.py`` saves and their model zoo
ships (CUB-200 and ImageNet models; there is no VOC or COCO release):
``{'epoch', 'state_dict', 'best_map'}`` from a ``DataParallel`` model, so keys
start with ``module.``. It is read with ``weights_only=True``. The output is
``{'state_dict': ..., 'meta': ...}`` as mmengine writes it, for ``load_from`` or
``tools/test.py`` with a TS-CAM config whose ``num_classes`` matches.
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

    import mmdoei  # noqa: F401  allow-lists what mmengine checkpoints pickle
    from mmdoei.models.utils.checkpoint import convert_tscam
    from mmdoei.utils import atomic_write

    ckpt = torch.load(args.src, map_location='cpu', weights_only=True)
    state = convert_tscam(ckpt)
    if 'head.conv.weight' not in state or state['head.conv.weight'].dim() != 4:
        sys.exit(f'{args.src}: no conv head `head.weight (K, D, 3, 3)`; not a TS-CAM checkpoint')
    num_classes = state['head.conv.weight'].shape[0]
    embed_dims = state['head.conv.weight'].shape[1]
    meta = dict(source=osp.basename(args.src), algorithm='TS-CAM', num_classes=num_classes,
                embed_dims=embed_dims)
    if isinstance(ckpt, dict) and 'epoch' in ckpt:
        meta['epoch'] = ckpt['epoch']
    with atomic_write(args.dst) as f:
        torch.save({'state_dict': state, 'meta': meta}, f)
    print(f'{args.src} -> {args.dst}: TS-CAM, {num_classes} classes, embed dims {embed_dims}, '
          f'{len(state)} tensors')


if __name__ == '__main__':
    main()
