"""Convert a TransCAM checkpoint (liruiwen/TransCAM, Conformer-S) to mmdoei's format.

    python tools/model_converters/transcam2mmdoei.py TransCAM.pth transcam_conformer-s_voc.pth

The source is what the authors' ``train_TransCAM.py`` saves and their README
links (Google Drive): ``model.module.state_dict()``, bare, in the original
Conformer key names, with heads of 21 outputs (background first). It is read
with ``weights_only=True``. The background output, which the authors' loss and
CAMs never use, is dropped (``--num-background 0`` keeps every row, for heads
without one). The output is ``{'state_dict': ..., 'meta': ...}`` as mmengine
writes it, for ``load_from`` or ``tools/test.py``.
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
    parser.add_argument('--num-background', type=int, default=1,
                        help='leading head outputs that are background (default 1, as TransCAM)')
    args = parser.parse_args()

    import torch

    import mmdoei  # noqa: F401  allow-lists what mmengine checkpoints pickle
    from mmdoei.models.utils.checkpoint import convert_transcam
    from mmdoei.utils import atomic_write

    ckpt = torch.load(args.src, map_location='cpu', weights_only=True)
    state = convert_transcam(ckpt, num_background=args.num_background)
    if 'head.conv_cls_head.weight' not in state or state['head.conv_cls_head.weight'].dim() != 4:
        sys.exit(f'{args.src}: no conv classification map head `conv_cls_head.weight (K, C, 3, 3)`; '
                 'not a TransCAM checkpoint (for ImageNet Conformer weights use init_cfg instead)')
    num_classes = state['head.conv_cls_head.weight'].shape[0]
    meta = dict(source=osp.basename(args.src), algorithm='TransCAM', num_classes=num_classes,
                dropped_background_outputs=args.num_background)
    with atomic_write(args.dst) as f:
        torch.save({'state_dict': state, 'meta': meta}, f)
    print(f'{args.src} -> {args.dst}: TransCAM, {num_classes} classes '
          f'({args.num_background} background output(s) dropped), {len(state)} tensors')


if __name__ == '__main__':
    main()
