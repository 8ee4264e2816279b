"""The WSSS stage-1 demo on embedded synthetic data: baseline against DOEI.

    python tools/demo.py --model mctformer-v2|tscam|transcam|all [--out-dir demo_out]
                         [--epochs N] [--from-scratch]

(With no argument at all it prints its usage and runs nothing: ``--model
mctformer-v2`` is the default run.)

1. takes the small ViT pretrained on the procedural set from the repository
   (checkpoints/vit-6l128_procedural-64.pth, made by ``tools/pretrain.py
   --seed 0``, which reproduces its weights bit for bit; if the file is
   missing or made with other settings, it is pretrained here first),
2. writes the synthetic VOC-layout data set (seeded; kept for reruns),
3. fine-tunes the baseline and the same model with DOEI from it, as the VOC
   configs fine-tune DeiT-S (configs/demo/*-pre_*; ``--from-scratch`` trains
   the from-scratch configs instead and skips step 1),
4. generates CAMs of the train split (flip) with overlays,
5. scores the seeds (mIoU, FP, FN over a background-threshold sweep),
6. prints a side-by-side table and writes ``OUT/summary.md``,
   ``OUT/summary.json`` and ``OUT/comparison.png``.

Finished steps are skipped on a rerun (checkpoints and CAM files are kept),
so an interrupted demo continues where it stopped. Each step's folder keeps
a record of what made it (mmdoei.apis.steps): a rerun with other settings
(epochs, seed, backbone, number of images) in the same --out-dir stops and
names what differs, unless --overwrite redoes the steps that differ. One demo
at a time per --out-dir: a second one stops at once ("in use by another run").
A refusal exits with status 2 and its message, without a traceback.

Before torch loads, the CPU kernels of the whole run (fine-tuning, and
pretraining where it is needed, run in this process) are pinned to one set every AVX2 x86-64 CPU
has (ATEN_CPU_CAPABILITY=avx2, MKL_CBWR=COMPATIBLE, ONEDNN_MAX_CPU_ISA=AVX2;
mmdoei.utils.numerics), so CPUs of other makes print the same table: a
variable you set yourself wins and is printed as yours, ``--no-cpu-pin``
leaves the machine's choice, and on a CPU without AVX2 nothing is pinned
(docs/user_guides/demo.md).
"""
import argparse
import json
import os.path as osp
import sys
import time
from pathlib import Path

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))

from typing import Optional, Sequence  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# The parser's help names the cached backbone; main() checks it against mmdoei.apis.pretrain's.
PRETRAINED_CHECKPOINT = 'checkpoints/vit-6l128_procedural-64.pth'


def pin_cpu(enabled: bool = True) -> list:
    """Pin torch's CPU kernels (mmdoei/utils/numerics.py, loaded by path: ``import mmdoei`` would import torch
    first, and the libraries read the variables when they load), print what was set and return those lines."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('_mmdoei_numerics', ROOT / 'mmdoei' / 'utils' / 'numerics.py')
    numerics = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(numerics)
    lines = numerics.pin_cpu_numerics(enabled=enabled)
    for line in lines:
        print(line, flush=True)
    return lines


def import_mmdoei() -> None:
    """Import cv2, numpy, mmdoei and the names the demo uses into its globals (after the arguments are parsed,
    so --help answers at once)."""
    global cv2, np, cams_and_seeds, ensure_synthetic_voc, stage1_cfg, stage1_step, train_seconds, train_stage1
    global resolve_pretrained, use_pretrained, cam_overlay, load_cam, voc_palette, atomic_write, read_label_png
    global read_split, setup_env, cam_path
    import cv2
    import numpy as np

    import mmdoei  # noqa: F401  registers everything
    from mmdoei.apis import pretrain
    from mmdoei.apis.pipeline import cams_and_seeds, stage1_cfg, stage1_step, train_seconds, train_stage1
    from mmdoei.apis.pretrain import resolve_pretrained, use_pretrained
    from mmdoei.cam import cam_overlay, cam_path, load_cam
    from mmdoei.datasets.categories import voc_palette
    from mmdoei.utils import atomic_write, read_label_png, read_split, setup_env
    from projects.wsss_lab.data import ensure_synthetic_voc
    if pretrain.PRETRAINED_CHECKPOINT != PRETRAINED_CHECKPOINT:
        raise RuntimeError(f'{__file__}: PRETRAINED_CHECKPOINT differs from mmdoei.apis.pretrain\'s: update it')


# Each baseline and its DOEI variant: the config pair the demo trains, fine-tuned
# from the pretrained backbone (the paper's regime) ...
MODELS = {
    'mctformer-v2': ('configs/demo/mctformer-v2_vit-6l128-pre_synthetic-64.py',
                     'configs/demo/doei-mctformer-v2_vit-6l128-pre_synthetic-64.py'),
    'tscam': ('configs/demo/tscam_vit-6l128-pre_synthetic-64.py',
              'configs/demo/doei-tscam_vit-6l128-pre_synthetic-64.py'),
    'transcam': ('configs/demo/transcam_conformer-6l128-pre_synthetic-128.py',
                 'configs/demo/doei-transcam_conformer-6l128-pre_synthetic-128.py'),
}
# ... or trained from scratch (--from-scratch).
MODELS_FROM_SCRATCH = {
    'mctformer-v2': ('configs/demo/mctformer-v2_vit-4l128_synthetic-64.py',
                     'configs/demo/doei-mctformer-v2_vit-4l128_synthetic-64.py'),
    'tscam': ('configs/demo/tscam_vit-4l128_synthetic-64.py',
              'configs/demo/doei-tscam_vit-4l128_synthetic-64.py'),
    'transcam': ('configs/demo/transcam_conformer-6l128_synthetic-128.py',
                 'configs/demo/doei-transcam_conformer-6l128_synthetic-128.py'),
}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line; with no argument at all, usage and exit 2 (the demo runs for about 7 minutes)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', choices=sorted(MODELS) + ['all'], default='mctformer-v2',
                        help='the baseline to run with and without DOEI (all: the three)')
    parser.add_argument('--out-dir', default='demo_out')
    parser.add_argument('--epochs', type=int, help="training epochs (default: the config's)")
    parser.add_argument('--pretrained', help='the pretrained backbone (default: the shipped '
                        f'{PRETRAINED_CHECKPOINT}, pretrained first if missing)')
    parser.add_argument('--from-scratch', action='store_true',
                        help='train the from-scratch configs instead of fine-tuning the pretrained backbone')
    parser.add_argument('--num-train', type=int, default=400, help='synthetic train_aug images')
    parser.add_argument('--seed', type=int, default=0, help='training seed')
    parser.add_argument('--overwrite', action='store_true',
                        help='redo a step whose folder holds outputs made with other settings (default: stop and '
                        'name what differs)')
    parser.add_argument('--no-cpu-pin', action='store_true',
                        help='leave the CPU kernels to the machine (default: ATEN_CPU_CAPABILITY=avx2, '
                        'MKL_CBWR=COMPATIBLE, ONEDNN_MAX_CPU_ISA=AVX2 where unset, so that other CPUs print '
                        'the same table)')
    if not argv:
        parser.error('no arguments: the demo trains for about 7 minutes and writes data/, '
                     'checkpoints/ and demo_out/ under the current folder; to run it with the defaults, '
                     'give --model mctformer-v2')
    return parser.parse_args(argv)


def run_variant(name: str, config: str, data_root: Path, out: Path, epochs, seed: int,
                pretrained: str = None, overwrite: bool = False) -> dict:
    """Train (unless the same training is done), generate CAMs, score seeds; returns the report."""
    cfg = stage1_cfg(str(ROOT / config), str(out / name), seed=seed, epochs=epochs, data_root=str(data_root))
    if pretrained:
        use_pretrained(cfg, pretrained)
    if stage1_step(cfg).status() != 'done':
        print(f'[demo] {name}: training {cfg.train_cfg.max_epochs} epochs ({config})')
    ckpt = train_stage1(cfg, f'{name}_train', overwrite=overwrite)
    cam_dir = out / name / 'cams'
    print(f'[demo] {name}: CAMs of the train split -> {cam_dir}, then seeds')
    report = dict(cams_and_seeds(cfg, str(ckpt), str(cam_dir), overlay=True, name=f'{name}_cams'))
    report['train_seconds'] = round(train_seconds(ckpt), 1)
    return report


def comparison_image(data_root: Path, out: Path, names, n: int = 6) -> Path:
    """Rows of image | ground truth | each variant's CAM of the first labelled class."""
    ids = read_split(str(data_root / 'ImageSets/Segmentation/train.txt'))[:n]
    palette = np.array(voc_palette(), np.uint8).reshape(-1, 3)
    rows = []
    for img_id in ids:
        rgb = cv2.imread(str(data_root / 'JPEGImages' / f'{img_id}.jpg'))[..., ::-1]
        gt = palette[read_label_png(str(data_root / 'SegmentationClassAug' / f'{img_id}.png'))]
        tiles = [rgb, gt]
        for name in names:
            keys, cams = load_cam(cam_path(out / name / 'cams', img_id))
            tiles.append(cam_overlay(rgb, cams[0]))
        rows.append(np.concatenate(tiles, axis=1))
    grid = np.concatenate(rows, axis=0)
    grid = cv2.resize(grid, None, fx=3, fy=3, interpolation=cv2.INTER_NEAREST)
    header = np.full((24, grid.shape[1], 3), 255, np.uint8)
    for i, title in enumerate(['image', 'ground truth', *names]):
        cv2.putText(header, title, (i * 64 * 3 + 6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1)
    path = out / 'comparison.png'
    ok, buf = cv2.imencode('.png', np.concatenate([header, grid])[..., ::-1])
    with atomic_write(path) as f:
        f.write(buf.tobytes())
    return path


def summary_table(reports: dict) -> str:
    lines = ['| run | seed mIoU | FP | FN | best threshold | training (s) |', '|---|---|---|---|---|---|']
    for name, r in reports.items():
        lines.append(f"| {name} | {r['mIoU']:.1f} | {r['FP']:.1f} | {r['FN']:.1f} | "
                     f"{r['best_threshold']:.2f} | {r['train_seconds']:.0f} |")
    return '\n'.join(lines)


def refuse(message: str) -> None:
    """Exit with status 2 and ``message`` (as argparse's ``parser.error``): a refusal names the user's folder
    and what to do; a traceback would only hide that."""
    print(f'{osp.basename(__file__)}: error: {message}', file=sys.stderr, flush=True)
    sys.exit(2)


def main() -> None:
    args = parse_args()
    pinned = pin_cpu(not args.no_cpu_pin)  # before torch loads (import_mmdoei): the libraries read the variables then
    import_mmdoei()
    from mmdoei.utils.locks import LockedError, UnsafeLockFileError, folder_lock
    from mmdoei.utils.record import RecordError
    setup_env()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    try:
        # one demo at a time in --out-dir: its steps lock their own folders, but not the summary, the
        # comparison image or a step's refusal-then-overwrite racing another demo's
        with folder_lock(out, 'demo output folder'):
            run(args, out, pinned)
    except (RecordError, LockedError, UnsafeLockFileError) as e:  # refusals: nothing was changed
        refuse(str(e))


def run(args: argparse.Namespace, out: Path, pinned: list) -> None:
    """The demo's steps into ``out`` (whose lock the caller holds)."""
    t0 = time.time()
    models = MODELS_FROM_SCRATCH if args.from_scratch else MODELS
    pretrained = None if args.from_scratch else resolve_pretrained(args.pretrained, str(ROOT))
    data_root = ensure_synthetic_voc(str(out), args.num_train, overwrite=args.overwrite)
    # from-scratch runs get their own folder: a rerun must never mix the two regimes
    work = out / 'from_scratch' if args.from_scratch else out
    reports = {}
    for model in (models if args.model == 'all' else [args.model]):
        for name, config in zip((model, f'doei+{model}'), models[model]):
            reports[name] = run_variant(name, config, data_root, work, args.epochs, args.seed, pretrained,
                                        args.overwrite)
    names = list(reports)
    table = summary_table(reports)
    image = comparison_image(data_root, work, names)
    cmd = 'python tools/demo.py ' + ' '.join(sys.argv[1:])
    text = (f'# mmdoei demo ({time.time() - t0:.0f} s)\n\n`{cmd.strip()}`\n\n{table}\n\n'
            f'Seeds of the {len(read_split(str(data_root / "ImageSets/Segmentation/train.txt")))} '
            f'synthetic train images, flip, per-class min-max, best background threshold; '
            f'mIoU, FP and FN over 21 classes (docs/method.md).\n\nCPU kernels: '
            f'{" ".join(pinned)}\n\n![comparison]({image.name})\n')
    with atomic_write(work / 'summary.md', 'w') as f:
        f.write(text)
    with atomic_write(work / 'summary.json', 'w') as f:
        json.dump({k: {m: v[m] for m in ('mIoU', 'FP', 'FN', 'best_threshold', 'train_seconds')}
                   for k, v in reports.items()}, f, indent=1)
    print('\n' + table + f'\n\n[demo] done in {time.time() - t0:.0f} s: {work}/summary.md, {image}')


if __name__ == '__main__':
    main()
