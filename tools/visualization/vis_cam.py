"""CAMs of a few images as PNGs, in the style of mmpretrain's tools/visualization/vis_cam.py.

    python tools/visualization/vis_cam.py demo.jpg --model mctformer-v2_deit-s_voc12aug_authors \\
        --classes bird --doei --out-dir cams/

    python tools/visualization/vis_cam.py photos/ --model configs/doei/mct_voc.py \\
        --checkpoint work_dirs/mct_voc/epoch_60.pth --classes 2 cat --out-dir cams/

One PNG per image (the image, one CAM overlay per class, the seeds), written
atomically to ``OUT_DIR/<image name>.png``. A thin front of
:class:`mmdoei.apis.CAMInferencer`: the CAMs are ``tools/test.py --cam-out``'s
(the config's CAM protocol unless ``--protocol``). Folders contribute their
image files; other files are skipped and named.
"""
import argparse
import sys
from pathlib import Path
from typing import List, Optional, Union


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='CAMs of images (files or folders) as overlay PNGs')
    parser.add_argument('inputs', nargs='+', metavar='IMG_OR_FOLDER', help='image files and/or folders of images')
    parser.add_argument('--model', required=True,
                        help='a zoo name (mmdoei.apis.list_models(); its weights unless --checkpoint) '
                        'or a config file')
    parser.add_argument('--checkpoint', help='weights (path or URL); needed with a config file')
    parser.add_argument('--classes', nargs='+', metavar='CLASS',
                        help='classes to map, by name (bird) or 0-based index (2); default: the predicted ones')
    doei = parser.add_mutually_exclusive_group()
    doei.add_argument('--doei', dest='doei', action='store_true', default=None,
                      help='DOEI on for extraction (its default settings), whatever the model')
    doei.add_argument('--no-doei', dest='doei', action='store_false', help='DOEI off (also for a doei model)')
    parser.add_argument('--protocol', help="a named CAM protocol (mmdoei.cam.CAM_PROTOCOLS) instead of the "
                        "config's cam_gen, e.g. ms5")
    parser.add_argument('--out-dir', required=True, help='where the PNGs go (created)')
    parser.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def _class(value: str) -> Union[int, str]:
    """A class given on the command line: an index if it is a number, else a name."""
    return int(value) if value.isdigit() else value


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.checkpoint is None and Path(args.model).suffix == '.py':
        sys.exit(f'vis_cam: {args.model} is a config file: give its weights with --checkpoint')
    # Heavy imports only now: --help and argument errors cost no torch import.
    from mmdoei.apis import CAMInferencer
    doei = {True: dict(), False: False, None: None}[args.doei]
    inferencer = CAMInferencer(args.model, weights=args.checkpoint, device=args.device, doei=doei)
    labels = [_class(c) for c in args.classes] if args.classes else None
    inputs = inferencer._inputs_to_list(args.inputs)  # checks the paths before any model run
    out_dir = Path(args.out_dir)
    inferencer(inputs, labels=labels, protocol=args.protocol, show_dir=str(out_dir))
    for item in inputs:
        print(f'{item} -> {out_dir / (Path(item).stem + ".png")}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
