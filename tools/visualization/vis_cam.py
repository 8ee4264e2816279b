"""CAMs of a few images as PNGs, in the style of mmpretrain's tools/visualization/vis_cam.py.

    python tools/visualization/vis_cam.py demo.jpg --model mctformer-v2_deit-s_voc12aug_authors \\
        --classes bird --doei --out-dir cams/

    python tools/visualization/vis_cam.py photos/ --model configs/doei/mct_voc.py \\
        --checkpoint work_dirs/mct_voc/epoch_60.pth --classes 2 cat --out-dir cams/

One PNG per image (the image, one CAM overlay per class, the seeds), written
atomically to ``OUT_DIR/<image name>.png``; with ``--compare-doei``, two rows
(DOEI off, then on with its default settings, same weights) in
``OUT_DIR/<image name>_doei.png``:

    python tools/visualization/vis_cam.py demo/chelsea.jpg \\
        --model configs/demo/mctformer-v2_vit-6l128-pre_synthetic-64.py \\
        --checkpoint demo_out/mctformer-v2/epoch_40.pth --classes cat --compare-doei --out-dir cams/
 A thin front of
:class:`mmdoei.apis.CAMInferencer`: the CAMs are ``tools/test.py --cam-out``'s
(the config's CAM protocol unless ``--protocol``). Folders contribute their
image files; other entries (files, sub-folders, broken links) are skipped and
named. The inputs are checked before the model is built: every image's header
(not an image, not 8-bit, too large), and their output names (two inputs
named ``a`` would write one ``a.png``: refused, naming them). A checkpoint that
does not fit the model is refused unless ``--partial-load``. Such expected
errors end the tool with one ``vis_cam: ...`` line and exit status 1.
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
    doei.add_argument('--compare-doei', action='store_true',
                      help='one PNG per image with two rows: DOEI off, then on (default settings), same weights')
    parser.add_argument('--protocol', help="a named CAM protocol (mmdoei.cam.CAM_PROTOCOLS) instead of the "
                        "config's cam_gen, e.g. ms5")
    parser.add_argument('--out-dir', required=True, help='where the PNGs go (created)')
    parser.add_argument('--partial-load', action='store_true',
                        help='accept a checkpoint that does not fit the model (only its matching tensors load), '
                        'as tools/test.py')
    parser.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def _class(value: str) -> Union[int, str]:
    """A class given on the command line: an index if it is a number (``-1`` too: refused as an
    index, not looked up as a name), else a name."""
    return int(value) if value.lstrip('-').isdigit() else value


def main(argv: Optional[List[str]] = None) -> int:
    """Write the PNGs; an expected error (a bad input, class or checkpoint) ends the tool with one
    ``vis_cam: ...`` line and exit status 1, no traceback."""
    args = parse_args(argv)
    if args.checkpoint is None and Path(args.model).suffix == '.py':
        sys.exit(f'vis_cam: {args.model} is a config file: give its weights with --checkpoint')
    out_dir = Path(args.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        sys.exit(f'vis_cam: --out-dir {out_dir} is a file; give a folder for the PNGs')
    try:
        return run(args, out_dir)
    except (ValueError, FileNotFoundError, TypeError) as e:  # the API's errors name what is wrong
        sys.exit(f'vis_cam: {e}')


def run(args: argparse.Namespace, out_dir: Path) -> int:
    """List and check the inputs and classes, then build the model and write the PNGs."""
    # Heavy imports only now: --help and argument errors cost no torch import.
    from mmdoei.apis import CAMInferencer
    labels = [_class(c) for c in args.classes] if args.classes else None
    # The inputs first (paths, headers, output names), before the model is built.
    inputs = CAMInferencer.list_inputs(args.inputs)
    names = CAMInferencer.output_names(inputs, '_doei.png' if args.compare_doei else '.png')
    if args.compare_doei:
        return compare_doei(args, labels, out_dir, inputs, names)
    doei = {True: dict(), False: False, None: None}[args.doei]
    inferencer = CAMInferencer(args.model, weights=args.checkpoint, device=args.device, doei=doei,
                               partial=args.partial_load, partial_flag='--partial-load')
    inferencer(inputs, labels=labels, protocol=args.protocol, show_dir=str(out_dir))
    for item, name in zip(inputs, names):
        print(f'{item} -> {out_dir / name}')
    return 0


def compare_doei(args: argparse.Namespace, labels: Optional[list], out_dir: Path, inputs: List[str],
                 names: List[str]) -> int:
    """DOEI off and on for the same weights: one model, switched per call by two inferencers."""
    import cv2
    import numpy as np

    from mmdoei.apis import CAMInferencer, get_model
    from mmdoei.utils import atomic_write
    model = get_model(args.model, pretrained=args.checkpoint or True, device=args.device,
                      partial=args.partial_load, partial_flag='--partial-load')
    off, on = CAMInferencer(model, doei=False), CAMInferencer(model, doei=dict())
    for item, name in zip(inputs, names):
        rows = []
        for title, inferencer in (('DOEI off', off), ('DOEI on', on)):
            row = inferencer([item], labels=labels, protocol=args.protocol)['visualization'][0].copy()
            # top left of the photo tile, white on a dark outline: legible on any photo
            for colour, thick in (((0, 0, 0), 5), ((255, 255, 255), 2)):
                cv2.putText(row, title, (8, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, colour, thick)
            rows.append(row)
        width = max(r.shape[1] for r in rows)  # other predicted labels may give rows of other lengths
        rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
        ok, buf = cv2.imencode('.png', np.concatenate(rows, axis=0)[..., ::-1])
        if not ok:
            raise RuntimeError(f'could not encode the comparison of {item}')
        out = out_dir / name
        with atomic_write(out) as f:
            f.write(buf.tobytes())
        print(f'{item} -> {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
