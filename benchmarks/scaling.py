"""How the costs grow: CAM generation, DOEI's overhead, PSA's random walk and seed evaluation against size.

    python benchmarks/scaling.py [--repeats 3] [--plot PNG] [--quick]

Four curves, each a markdown table (x, median seconds, per-unit cost, the local
exponent between neighbouring points) and the exponent ``b`` of ``t = a * x^b``
fitted by least squares in log-log (:func:`fit_power_law`), so that the cost
of VOC or COCO on this hardware can be read off (docs/user_guides/benchmarks.md,
"How the costs grow"):

1. CAM generation as ``tools/test.py CONFIG CKPT --cam-out DIR`` runs it
   (the tool's ``merge_args``, the Runner, ``CAMGenerationLoop``: PIL decoding,
   the authors' scale 1.0 + flip, CAM files written) with MCTformer-V2 DeiT-S
   (random weights), against the image count (synthetic VOC-layout images of
   500 x 375) and against the image side (224, 320, 448, 560 square: 196, 400,
   784, 1,225 tokens; COCO's 640 x 480 has 1,200);
2. DOEI's overhead: the same CAM generation with the DOEI config
   (``configs/doei/``, the same checkpoint) against the one without, per token
   count;
3. PSA's random walk (``random_walk_labels``, from affinities to the label
   map) against the image side (square images, stride-8 grid, radius 5, logt 8);
4. seed evaluation (``evaluate_cam_dir``, as ``tools/analysis_tools/eval_seeds.py``
   and ``tools/test.py --eval-seeds``) of synthetic 500 x 375 CAM files and
   masks against the image count.

Every measurement is the median of ``--repeats`` (>= 3) rounds, the sizes of a
curve interleaved within each round so that drift in machine load hits them
alike. The plot is one PNG with the four curves on log-log axes. ``--quick``
runs tiny sizes (for development and the tests; its numbers mean nothing).
The default run takes about 5 minutes on 2 idle cores and prints its total time.
"""
import argparse
import contextlib
import importlib.util
import math
import os
import os.path as osp
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

# the repository (mmdoei as this checkout has it) and this folder (timing.py, random_walk.py),
# also when the module is imported from elsewhere (the tests)
sys.path[:0] = [osp.join(osp.dirname(osp.abspath(__file__)), '..'), osp.dirname(osp.abspath(__file__))]

from timing import env_line, table  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CONFIG_OFF = REPO / 'configs/mctformer/mctformer-v2_deit-s_1xb64-60e_voc12aug-224.py'
CONFIG_ON = REPO / 'configs/doei/doei-mctformer-v2_deit-s_1xb64-60e_voc12aug-224.py'
DEFAULT_PLOT = REPO / 'benchmarks' / 'out' / 'scaling.png'  # .gitignore lists this folder
PATCH = 16
STRIDE = 8  # PSA's feature stride: the random walk's nodes are (side / 8)^2
VOC_HW = (375, 500)
COCO_HW = (480, 640)

# the sizes of the default run and of --quick
DEFAULT_SIZES = dict(cam_counts=(2, 4, 8, 16), cam_sides=(224, 320, 448, 560), side_images=4,
                     walk_sides=(256, 384, 512, 768, 1024), seed_counts=(50, 100, 200, 400), cam_hw=VOC_HW,
                     seed_hw=VOC_HW)
QUICK_SIZES = dict(cam_counts=(1, 2), cam_sides=(48, 64), side_images=1,
                   walk_sides=(64, 96, 128), seed_counts=(4, 8, 16), cam_hw=(48, 64), seed_hw=(48, 64))


def fit_power_law(x: Sequence[float], t: Sequence[float]) -> Tuple[float, float]:
    """``(a, b)`` of ``t = a * x^b``: least squares of ``log t = log a + b log x``.

    Raises:
        ValueError: fewer than two points, lengths that differ, a value that is not
            positive and finite (no logarithm), or all ``x`` equal (no slope).
    """
    x, t = np.asarray(x, np.float64), np.asarray(t, np.float64)
    if x.ndim != 1 or x.shape != t.shape or len(x) < 2:
        raise ValueError(f'a power-law fit needs two 1-D sequences of the same length >= 2, '
                         f'got x {x.shape} and t {t.shape}')
    for name, v in (('x', x), ('t', t)):
        if not (np.isfinite(v).all() and (v > 0).all()):
            raise ValueError(f'a power-law fit takes logarithms: every {name} must be positive and finite, '
                             f'got {v.tolist()}')
    lx, lt = np.log(x), np.log(t)
    dx = lx - lx.mean()
    if not (dx ** 2).sum() > 0:
        raise ValueError(f'a power-law fit needs at least two different x, got {x.tolist()}')
    b = float((dx * (lt - lt.mean())).sum() / (dx ** 2).sum())
    return float(math.exp(lt.mean() - b * lx.mean())), b


class Curve:
    """One measured curve: medians of ``t`` against ``x`` and its fit."""

    def __init__(self, title: str, x_name: str, xs: Sequence[float], samples: Sequence[Sequence[float]],
                 unit: str, per_unit: Callable[[float, float], float], note: Callable[[float], str] = None,
                 linear: bool = False, squared: Optional[str] = None):
        self.title, self.x_name, self.unit, self.note, self.squared = title, x_name, unit, note, squared
        self.panel = title.split(' (')[0]  # the plot's title
        self.xs = [float(x) for x in xs]
        self.samples = [list(s) for s in samples]
        self.medians = [statistics.median(s) for s in self.samples]
        self.per_unit = [per_unit(x, t) for x, t in zip(self.xs, self.medians)]
        self.a, self.b = fit_power_law(self.xs, self.medians)
        # counts: also t = fixed + marginal * x, whose slope is what each further image costs
        self.linear = tuple(float(v) for v in np.polyfit(self.xs, self.medians, 1)[::-1]) if linear else None

    def predict(self, x: float) -> float:
        """Seconds the fit predicts at ``x``."""
        return self.a * x ** self.b

    def markdown(self) -> str:
        rows = []
        for i, (x, t, u) in enumerate(zip(self.xs, self.medians, self.per_unit)):
            local = '' if i == 0 else f'{local_exponent(self.xs[i - 1], self.medians[i - 1], x, t):.2f}'
            rows.append([f'{x:g}'] + ([self.note(x)] if self.note else []) + [f'{t:.3f}', f'{u:.4g}', local])
        header = [self.x_name] + (['(size)'] if self.note else []) + ['median s', self.unit, 'local exponent']
        return table(rows, header)

    def marginal(self) -> float:
        """Seconds per further unit of ``x``: the slope of the linear fit, or (if that is
        not positive: noise) the per-unit cost at the largest ``x``."""
        if self.linear is not None and self.linear[1] > 0:
            return self.linear[1]
        return self.medians[-1] / self.xs[-1]

    def fit_line(self) -> str:
        out = (f'fitted exponent b = {self.b:.2f}  (t = {self.a:.3g} * x^{self.b:.2f} s, least squares in log-log '
               f'over {len(self.xs)} points)')
        if self.squared:
            out += f'; against the {self.squared}, which grow with the side squared: {self.b / 2:.2f}'
        if self.linear is not None:
            out += (f'\nlinear fit: t = {self.linear[0]:.3g} + {self.linear[1]:.4g} * x s (a fixed cost per run, '
                    f'then {self.linear[1]:.4g} s per further image)')
        return out


def local_exponent(x0: float, t0: float, x1: float, t1: float) -> float:
    """The slope in log-log between two points: how ``t`` grows from one size to the next."""
    return math.log(t1 / t0) / math.log(x1 / x0)


def interleaved(fns: Dict[object, Callable[[], object]], repeats: int) -> Dict[object, List[float]]:
    """Seconds of every call, one call of each function per round, ``repeats`` rounds
    (after one warm-up round): drift in machine load hits every size alike. A function's
    ``prepare()``, if it has one, runs before each call, off the clock."""
    times = {k: [] for k in fns}
    for rnd in range(repeats + 1):
        for k, fn in fns.items():
            if hasattr(fn, 'prepare'):
                fn.prepare()
            t0 = time.perf_counter()
            fn()
            if rnd:
                times[k].append(time.perf_counter() - t0)
    return times


# --- CAM generation, as tools/test.py --cam-out runs it --------------------------------------------------------

def _load_test_tool():
    spec = importlib.util.spec_from_file_location('mmdoei_test_tool', REPO / 'tools/test.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def cam_runner(tool, config: Path, ckpt: str, data_root: str, work: Path, name: str):
    """The Runner ``tools/test.py CONFIG CKPT --cam-out`` builds (its merge_args, weights loaded once)."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    from mmdoei.utils.weights import load_runner_weights
    args = tool.parse_args([str(config), ckpt, '--data-root', data_root, '--cam-out', str(work / 'unused'),
                            '--work-dir', str(work / name), '--cfg-options', 'model.backbone.init_cfg=None',
                            'cam_dataloader.num_workers=0', 'log_level=WARNING', f'experiment_name={name}'])
    cfg = tool.merge_args(Config.fromfile(str(config)), args)
    runner = Runner.from_cfg(cfg)
    load_runner_weights(runner, ckpt)
    return runner


class CamJob:
    """CAM generation of the runner's CAM dataset (its keys replaced by ``dataset``: another
    split or data root) through the test loop the tool runs (``CAMGenerationLoop``).

    :meth:`prepare` (not timed) builds the loop and its data loader on a fresh output folder,
    so that every call computes every image; calling the job is ``runner.test()``, as
    ``benchmarks/cam_throughput.py`` times the tool: from the first image to the last file
    written, the folder's record included.
    """

    def __init__(self, runner, out_root: Path, **dataset) -> None:
        import copy

        self.runner, self.out_root, self.calls = runner, out_root, 0
        self.loop_cfg = copy.deepcopy(runner.cfg.test_cfg)
        self.loader_cfg = copy.deepcopy(runner.cfg.test_dataloader)
        self.loader_cfg['dataset'].update(dataset)

    def prepare(self) -> None:
        self.calls += 1
        self.out = self.out_root / str(self.calls)
        self.runner._test_loop = self.runner.build_test_loop(
            dict(self.loop_cfg, dataloader=self.loader_cfg, out_dir=str(self.out)))

    def __call__(self) -> None:
        with quiet_stdout():  # the loop's progress bar
            written = self.runner.test()['cams_written']
        if written == 0:
            raise RuntimeError(f'no CAM file written into {self.out}')


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Standard output (file descriptor 1) to /dev/null: mmengine's progress bar holds the
    ``sys.stdout`` of its import, which ``contextlib.redirect_stdout`` does not replace."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, 'w') as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def write_split(data_root: Path, ids: Sequence[str], name: str) -> str:
    """An image list of ``ids`` in the dataset's ImageSets/Segmentation, relative to the root."""
    rel = f'ImageSets/Segmentation/{name}.txt'
    (data_root / rel).write_text('\n'.join(ids) + '\n')
    return rel


def cam_curves(sizes: dict, repeats: int, tmp: Path) -> List[Curve]:
    """CAM generation against the image count and the side; DOEI off against on."""
    import torch
    from mmpretrain.registry import MODELS

    from mmdoei.utils import setup_env
    from projects.wsss_lab.synthetic import make_synthetic_voc
    setup_env()  # as tools/test.py
    torch.manual_seed(0)
    model = MODELS.build(dict(type='MCTformerV2', num_classes=20, backbone=dict(arch='deit-small', img_size=224)))
    ckpt = str(tmp / 'random_mctformer-v2_deit-s.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    del model
    tool = _load_test_tool()
    counts, sides = sizes['cam_counts'], sizes['cam_sides']
    count_root = make_synthetic_voc(tmp / 'cam_count', num_train=max(counts), num_val=0, img_size=sizes['cam_hw'],
                                    seed=1)
    ids = (count_root / 'ImageSets/Segmentation/train_aug.txt').read_text().split()
    side_roots = {s: make_synthetic_voc(tmp / f'cam_side_{s}', num_train=sizes['side_images'], num_val=0,
                                        img_size=(s, s), seed=2) for s in sides}
    runners = {doei: cam_runner(tool, cfg, ckpt, str(count_root), tmp / 'work', f'scaling_doei_{doei}')
               for doei, cfg in (('off', CONFIG_OFF), ('on', CONFIG_ON))}

    jobs = {n: CamJob(runners['off'], tmp / f'out_count_{n}', split=write_split(count_root, ids[:n], f'first_{n}'))
            for n in counts}
    by_count = interleaved(jobs, repeats)
    print(f'CAMs against the image count: done {by_count}', file=sys.stderr)
    # DOEI off and on interleaved too: the same images, the same weights, one round each
    side_jobs = {(s, doei): CamJob(runner, tmp / f'out_side_{s}_{doei}', data_root=str(root))
                 for s, root in side_roots.items() for doei, runner in runners.items()}
    by_side = interleaved(side_jobs, repeats)
    print(f'CAMs against the side, DOEI off and on: done {by_side}', file=sys.stderr)

    h, w = sizes['cam_hw']
    n_side = sizes['side_images']
    count = Curve(f'CAM generation against the image count ({w} x {h} images, scale 1.0 + flip)', 'images',
                  counts, [by_count[n] for n in counts], 's / image', lambda x, t: t / x, linear=True)
    side = Curve(f'CAM generation against the image side (square, {n_side} image(s) per run, DOEI off)',
                 'side (px)', sides, [by_side[(s, 'off')] for s in sides], 'ms / token',
                 lambda x, t: 1000 * t / (n_side * tokens(x)), note=lambda x: f'{tokens(x):.0f} tokens',
                 squared='tokens')
    doei = DoeiCurve(sides, {s: by_side[(s, 'off')] for s in sides}, {s: by_side[(s, 'on')] for s in sides},
                     n_side)
    return [count, side, doei]


def tokens(side: float) -> float:
    """Patch tokens of a square image of ``side`` pixels (16-pixel patches)."""
    return (side // PATCH) ** 2


class DoeiCurve(Curve):
    """CAM generation with the DOEI config against the one without, per token count."""

    def __init__(self, sides: Sequence[int], off: Dict[int, List[float]], on: Dict[int, List[float]], images: int):
        super().__init__(f'DOEI\'s overhead: CAM generation with the DOEI config against without '
                         f'({images} square image(s) per run)', 'tokens', [tokens(s) for s in sides],
                         [on[s] for s in sides], 'on / off', lambda x, t: 0.0)
        self.sides = list(sides)
        self.panel = 'CAM generation against tokens, DOEI off and on'
        self.off = [statistics.median(off[s]) for s in sides]
        self.per_unit = [t_on / t_off for t_on, t_off in zip(self.medians, self.off)]
        self.a_off, self.b_off = fit_power_law(self.xs, self.off)

    def markdown(self) -> str:
        rows = []
        for i, (x, s, t_off, t_on) in enumerate(zip(self.xs, self.sides, self.off, self.medians)):
            local = '' if i == 0 else f'{local_exponent(self.xs[i - 1], self.medians[i - 1], x, t_on):.2f}'
            rows.append([f'{x:g}', f'{s} px', f'{t_off:.3f}', f'{t_on:.3f}', f'{t_on / t_off:.2f}x', local])
        return table(rows, ['tokens', '(size)', 'DOEI off median s', 'DOEI on median s', 'on / off',
                            'local exponent (on)'])

    def fit_line(self) -> str:
        return (f'fitted exponent b = {self.b:.2f} with DOEI (t = {self.a:.3g} * tokens^{self.b:.2f} s), '
                f'{self.b_off:.2f} without (t = {self.a_off:.3g} * tokens^{self.b_off:.2f} s)')


# --- PSA's random walk -------------------------------------------------------------------------------------------

def walk_curve(sides: Sequence[int], repeats: int) -> Curve:
    """``random_walk_labels`` (sparse walk, logt 8, two classes) on square images of each side."""
    from random_walk import make_inputs  # benchmarks/random_walk.py: the same synthetic inputs

    from mmdoei.models.affinity import random_walk_labels
    jobs = {}
    for s in sides:
        aff, feat_shape, cams, keys = make_inputs(s, s, num_classes=2)
        jobs[s] = (lambda a=aff, f=feat_shape, c=cams, k=keys:
                   random_walk_labels(a, f, c, k, radius=5, beta=8, logt=8, alpha=16))
    times = interleaved(jobs, repeats)
    print(f'random walk: done {times}', file=sys.stderr)
    return Curve('PSA random walk against the image side (square, stride-8 grid, radius 5, logt 8, 2 classes)',
                 'side (px)', sides, [times[s] for s in sides], 'us / node',
                 lambda x, t: 1e6 * t / nodes(x), note=lambda x: f'{nodes(x):.0f} nodes', squared='nodes')


def nodes(side: float) -> float:
    """Random-walk nodes of a square image: its stride-8 grid."""
    return math.ceil(side / STRIDE) ** 2


# --- seed evaluation ---------------------------------------------------------------------------------------------

def write_seed_inputs(folder: Path, count: int, hw: Tuple[int, int], seed: int = 0) -> Tuple[Path, Path, List[str]]:
    """``count`` VOC-like masks (one or two objects, a 255 outline band) and CAM files of
    their classes (the blurred objects, shifted, plus noise): what seed evaluation reads."""
    import cv2

    from mmdoei.cam.io import save_cam
    from mmdoei.utils.files import label_png_bytes
    rng = np.random.default_rng(seed)
    cam_dir, gt_dir = folder / 'cams', folder / 'gt'
    cam_dir.mkdir(parents=True)
    gt_dir.mkdir(parents=True)
    h, w = hw
    ids = [f'2007_{i:06d}' for i in range(count)]
    for img_id in ids:
        gt = np.zeros(hw, np.uint8)
        classes = sorted(rng.choice(20, size=int(rng.integers(1, 3)), replace=False).tolist())
        for c in classes:
            cy, cx = rng.integers(h // 4, 3 * h // 4), rng.integers(w // 4, 3 * w // 4)
            axes = (int(rng.integers(w // 8, w // 3)), int(rng.integers(h // 8, h // 3)))
            cv2.ellipse(gt, (int(cx), int(cy)), axes, 0, 0, 360, c + 1, -1)
        present = [c for c in classes if (gt == c + 1).any()]
        edges = cv2.morphologyEx(gt, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
        maps = np.stack([cv2.GaussianBlur((gt == c + 1).astype(np.float32), (0, 0), 9) for c in present])
        maps = 0.7 * np.roll(maps, 7, axis=2) + 0.3 * rng.random(maps.shape, np.float32)
        gt[edges] = 255
        (gt_dir / f'{img_id}.png').write_bytes(label_png_bytes(gt))
        save_cam(cam_dir / f'{img_id}.npz', present, maps / maps.max(axis=(1, 2), keepdims=True))
    return cam_dir, gt_dir, ids


def seed_curve(counts: Sequence[int], hw: Tuple[int, int], repeats: int, tmp: Path) -> Curve:
    """``evaluate_cam_dir`` (seed evaluation's background-threshold sweep) on the first ``n``
    images of one folder."""
    from mmdoei.evaluation import evaluate_cam_dir
    cam_dir, gt_dir, ids = write_seed_inputs(tmp / 'seeds', max(counts), hw)
    jobs = {n: (lambda n=n: evaluate_cam_dir(str(cam_dir), str(gt_dir), ids[:n], num_classes=21, progress=False))
            for n in counts}
    times = interleaved(jobs, repeats)
    print(f'seed evaluation: done {times}', file=sys.stderr)
    return Curve(f'seed evaluation against the image count ({hw[1]} x {hw[0]} CAM files and masks)', 'images',
                 counts, [times[n] for n in counts], 's / image', lambda x, t: t / x, linear=True)


# --- output --------------------------------------------------------------------------------------------------------

def plot(curves: Sequence[Curve], path: str) -> None:
    """The four curves on log-log axes, each with its fit, in one PNG (written atomically)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    from mmdoei.utils.io import atomic_write
    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5))
    for ax, c in zip(axes.flat, curves):
        xs = np.geomspace(min(c.xs), max(c.xs), 50)
        series = [('DOEI off', c.off, c.a_off, c.b_off), ('DOEI on', c.medians, c.a, c.b)] \
            if isinstance(c, DoeiCurve) else [('measured', c.medians, c.a, c.b)]
        for label, ts, a, b in series:
            line = ax.plot(c.xs, ts, 'o', label=f'{label} (median of {len(c.samples[0])})')[0]
            ax.plot(xs, a * xs ** b, '-', color=line.get_color(), alpha=0.6, label=f'fit: b = {b:.2f}')
        ax.set_xscale('log')
        ax.set_yscale('log')
        ax.set_xticks(c.xs, [f'{x:g}' for x in c.xs], minor=False)  # the measured sizes, plainly
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(c.x_name)
        ax.set_ylabel('seconds')
        ax.set_title(c.panel, fontsize=10)
        ax.grid(True, which='both', alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_write(path) as f:
        fig.savefig(f, format='png', dpi=100)
    plt.close(fig)


def predictions(curves: Sequence[Curve], sizes: dict) -> Optional[str]:
    """Hours for VOC and COCO read off the curves: the marginal cost per image (the slope of
    the linear fit of a count curve), times the images, times the size factor of the side fit
    (COCO's 640 x 480 against VOC's 500 x 375: by the fits of the side curves, or by the pixels
    for seed evaluation, which visits every pixel once)."""
    count, side, _, walk, seed = curves
    (h, w), eq = sizes['cam_hw'], lambda hw: math.sqrt(hw[0] * hw[1])
    if (h, w) != VOC_HW:
        return None  # --quick: tiny images, nothing to extrapolate from
    cam_per_image, seed_per_image = count.marginal(), seed.marginal()
    coco_cam = cam_per_image * side.predict(eq(COCO_HW)) / side.predict(eq(VOC_HW))
    rows = []
    for job, n, per_image in (
            ('CAMs, VOC train_aug (500 x 375)', 10582, cam_per_image),
            ('CAMs, COCO train (640 x 480)', 82783, coco_cam),
            ('random walk, VOC train_aug', 10582, walk.predict(eq(VOC_HW))),
            ('random walk, COCO train', 82783, walk.predict(eq(COCO_HW))),
            ('seed evaluation, VOC train (1,464)', 1464, seed_per_image),
            ('seed evaluation, COCO train', 82783, seed_per_image * COCO_HW[0] * COCO_HW[1] / (h * w))):
        rows.append([job, f'{n:,}', f'{per_image:.4g}', f'{n * per_image / 3600:.3g}'])
    return table(rows, ['job', 'images', 's / image', 'hours'])


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Measure the four curves, print their tables and fits, write the plot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument('--repeats', type=int, default=3, help='rounds; every point is the median (>= 3)')
    parser.add_argument('--plot', default=str(DEFAULT_PLOT), help='the PNG to write (default: %(default)s)')
    parser.add_argument('--quick', action='store_true', help='tiny sizes, under a minute: for development and tests')
    args = parser.parse_args(argv)
    if args.repeats < 3:
        parser.error(f'--repeats must be at least 3 (a median of fewer says little), got {args.repeats}')
    # a plot path that cannot be written fails now, not after minutes of measuring
    _load_test_tool().check_output_path(args.plot, '--plot', 'file')
    start = time.perf_counter()
    import torch

    import mmdoei  # noqa: F401
    sizes = QUICK_SIZES if args.quick else DEFAULT_SIZES
    if args.quick:
        # one thread: two threads waiting on each other on a loaded machine make even tiny
        # passes take seconds, and --quick numbers are for testing only
        torch.set_num_threads(1)
    print(f'{"--quick: tiny sizes, numbers for testing only; " if args.quick else ""}'
          f'median of {args.repeats} interleaved rounds; {env_line()}\n')
    with tempfile.TemporaryDirectory(prefix='mmdoei_scaling_') as tmp:
        tmp = Path(tmp)
        curves = cam_curves(sizes, args.repeats, tmp)
        curves.append(walk_curve(sizes['walk_sides'], args.repeats))
        curves.append(seed_curve(sizes['seed_counts'], sizes['seed_hw'], args.repeats, tmp))
    for i, c in enumerate(curves, 1):
        print(f'### {i}. {c.title}\n')
        print(c.markdown())
        print(f'\n{c.fit_line()}\n')
    pred = predictions(curves, sizes)
    if pred:
        print('### What the curves predict for VOC and COCO on this machine\n')
        print(pred + '\n')
    # four panels: the side curve is the DOEI-off series of the DOEI panel (tokens = (side / 16)^2)
    plot([curves[0], curves[2], curves[3], curves[4]], args.plot)
    print(f'plot: {args.plot}')
    print(f'total time: {time.perf_counter() - start:.0f} s ({torch.get_num_threads()} threads)')


if __name__ == '__main__':
    main()
