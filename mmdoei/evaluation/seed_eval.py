"""Evaluate a folder of CAM files or label PNGs against GT masks, and write
the report (json, curve and per-class plots).

Used by ``tools/analysis_tools/eval_seeds.py``; callable from a notebook too.
Every input file is checked (existence, then sizes read from file headers)
before the pass over the data, and nothing is written until all numbers are
computed, and then all report files at once (each to a temporary file
first, renamed into place when all are written), so a failed run leaves the
output folder as it was.
"""
import contextlib
import io
import json
import math
import os
import os.path as osp
import sys
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from mmengine.utils import track_iter_progress

from mmdoei.cam.io import CAM_SUFFIX, cam_path, config_cam_suffix, load_cam, other_suffix_hint, read_cam_header
from mmdoei.datasets.categories import seg_class_names
from mmdoei.utils.files import check_files_exist, image_size, read_label_png, read_split
from .scores import SeedSweep, confusion_matrix, iou_fp_fn


def cam_file_shape(path: str, num_classes: int = 21) -> Tuple[int, ...]:
    """Shape ``(K, H, W)`` of the ``cams`` array of a CAM file, from its header only.

    Raises:
        ValueError: naming the file when it is not a readable CAM file (e.g.
            truncated: the zip directory at its end is gone), or declares more
            maps or pixels than a CAM of ``num_classes`` may have.
    """
    _, shape, _ = read_cam_header(path, num_classes)
    if len(shape) != 3:
        raise ValueError(f'{path}: "cams" must be a (K, H, W) array, got shape {tuple(shape)}')
    return shape


def _check_sizes(pairs: Sequence[Tuple[str, str]], what: str, size_of) -> None:
    """Compare each (file, GT mask) pair's (H, W); one error for all mismatches."""
    bad = []
    for path, gt_path in pairs:
        size = size_of(path)
        gt_size = image_size(gt_path)
        if tuple(size) != tuple(gt_size):
            bad.append(f'  {what} {path} is {size[0]}x{size[1]} but GT mask {gt_path} is '
                       f'{gt_size[0]}x{gt_size[1]}')
    if bad:
        more = f'\n  ... and {len(bad) - 5} more' if len(bad) > 5 else ''
        raise ValueError(f'{len(bad)} of {len(pairs)} {what}s do not match their GT mask size:\n' +
                         '\n'.join(bad[:5]) + more)


def _inputs(folder: str, gt_dir: str, img_ids: Sequence[str], path_of: Callable[[str], str], what: str,
            listed_by: str) -> List[Tuple[str, str]]:
    if not img_ids:
        raise ValueError(f'no image ids to evaluate (from {listed_by})')
    if not osp.isdir(folder):
        raise FileNotFoundError(f'{what} folder {folder} does not exist')
    pairs = [(path_of(i), osp.join(gt_dir, i + '.png')) for i in img_ids]
    check_files_exist({f'{what} files': [p for p, _ in pairs], 'GT masks': [g for _, g in pairs]}, listed_by)
    return pairs


def evaluate_cam_dir(cam_dir: str,
                     gt_dir: str,
                     img_ids: Sequence[str],
                     num_classes: int = 21,
                     thresholds: Optional[Sequence[float]] = None,
                     ignore_index: int = 255,
                     progress: bool = True,
                     listed_by: str = 'the image list',
                     suffix: str = CAM_SUFFIX) -> dict:
    """Seed quality of ``cam_dir/{id}{suffix}`` (:func:`~mmdoei.cam.io.cam_path`)
    against ``gt_dir/{id}.png``, swept over background thresholds in one pass.

    Returns:
        The :meth:`SeedSweep.results` dict.

    Raises:
        FileNotFoundError: listing missing CAM files / GT masks (before any work).
        ValueError: naming the file(s): not regular files (FIFOs, devices;
            before any is opened), size mismatch (checked up front from
            headers), corrupt CAM file, NaN/inf, bad keys, bad GT values.
    """
    try:
        pairs = _inputs(cam_dir, gt_dir, img_ids, lambda i: cam_path(cam_dir, i, suffix), 'CAM', listed_by)
    except FileNotFoundError as e:
        hint = other_suffix_hint(cam_dir, suffix, img_ids)  # e.g. the CAMs were written with another suffix
        if not hint:
            raise
        raise FileNotFoundError(f'{e}{hint}') from e
    _check_sizes(pairs, 'CAM', lambda p: cam_file_shape(p, num_classes)[1:])
    sweep = SeedSweep(num_classes, thresholds, ignore_index)
    for cam_file, gt_path in (track_iter_progress(pairs, file=sys.stdout) if progress else pairs):
        gt = read_label_png(gt_path)
        # the GT's size bounds what the CAM file may declare, checked before its maps are read
        keys, cams = load_cam(cam_file, num_classes, gt.shape)
        try:
            sweep.add(cams, keys, gt)
        except ValueError as e:
            raise ValueError(f'{cam_file} vs GT {gt_path}: {e}') from e
    return sweep.results()


def evaluate_pred_dir(pred_dir: str,
                      gt_dir: str,
                      img_ids: Sequence[str],
                      num_classes: int = 21,
                      ignore_index: int = 255,
                      progress: bool = True,
                      listed_by: str = 'the image list') -> dict:
    """Quality of label PNGs ``pred_dir/{id}.png`` (P or L mode; pseudo masks,
    seeds) against ``gt_dir/{id}.png``. ``ignore_index`` in a prediction
    counts as unlabelled (a miss).

    Returns:
        The :func:`iou_fp_fn` dict plus ``confusion`` and ``num_images``.
    """
    pairs = _inputs(pred_dir, gt_dir, img_ids, lambda i: osp.join(pred_dir, i + '.png'), 'prediction', listed_by)
    _check_sizes(pairs, 'prediction', image_size)
    confusion = np.zeros((num_classes, num_classes + 1), np.int64)
    for pred_path, gt_path in (track_iter_progress(pairs, file=sys.stdout) if progress else pairs):
        pred, gt = read_label_png(pred_path), read_label_png(gt_path)
        try:
            confusion_matrix(pred, gt, num_classes, ignore_index, out=confusion)
        except ValueError as e:
            raise ValueError(f'{pred_path} vs GT {gt_path}: {e}') from e
    result = iou_fp_fn(confusion)
    result.update(confusion=confusion, num_images=len(pairs))
    return result


def _pct(x) -> Optional[float]:
    """Fraction to percent (4 decimals); NaN to None so the json is standard."""
    x = float(x)
    return None if math.isnan(x) else round(x * 100, 4)


def build_report(result: dict, class_names: Optional[Sequence[str]] = None) -> dict:
    """A json-able summary in percent of :func:`evaluate_cam_dir` or
    :func:`evaluate_pred_dir` output."""
    best = result.get('best', result)
    names = list(class_names or seg_class_names(len(best['iou'])))
    report = dict(
        mode='cam' if 'best' in result else 'mask',
        num_images=int(result['num_images']),
        num_classes=len(names),
        mIoU=_pct(best['miou']),
        FP=_pct(best['mfp']),
        FN=_pct(best['mfn']))
    if 'best' in result:
        report['best_threshold'] = result['best_threshold']
        if 'first_drop' in result:
            fd = result['first_drop']
            report['authors_rule'] = dict(
                rule='MCTformer evaluation.py: t = 0.00..0.59, stop at the first mIoU that does not rise',
                threshold=result['first_drop_threshold'], mIoU=_pct(fd['miou']), FP=_pct(fd['mfp']),
                FN=_pct(fd['mfn']))
        report['curve'] = dict(
            threshold=[float(t) for t in result['thresholds']],
            mIoU=[_pct(v) for v in result['miou']],
            FP=[_pct(v) for v in result['mfp']],
            FN=[_pct(v) for v in result['mfn']])
    report['per_class'] = {
        n: dict(IoU=_pct(best['iou'][i]), FP=_pct(best['fp'][i]), FN=_pct(best['fn'][i]))
        for i, n in enumerate(names)
    }
    return report


def format_report(report: dict) -> str:
    """The report as a printable table."""
    head = f'{report["num_images"]} images, {report["num_classes"]} classes'
    if 'best_threshold' in report:
        head += f', best background threshold {report["best_threshold"]:.2f} (max over the sweep)'
    fmt = lambda v: f'{v:7.2f}' if v is not None else '    n/a'  # noqa: E731
    rows = [head]
    if 'authors_rule' in report:
        a = report['authors_rule']
        rows.append(f'authors\' rule (first drop over 0..0.59): threshold {a["threshold"]:.2f}, '
                    f'mIoU {fmt(a["mIoU"]).strip()}, FP {fmt(a["FP"]).strip()}, FN {fmt(a["FN"]).strip()}')
    rows.append(f'{"class":>16} {"IoU":>7} {"FP":>7} {"FN":>7}')
    for name, m in report['per_class'].items():
        rows.append(f'{name:>16} {fmt(m["IoU"])} {fmt(m["FP"])} {fmt(m["FN"])}')
    rows.append(f'{"mean":>16} {fmt(report["mIoU"])} {fmt(report["FP"])} {fmt(report["FN"])}')
    return '\n'.join(rows)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=100, bbox_inches='tight')
    return buf.getvalue()


def render_plots(report: dict) -> Dict[str, bytes]:
    """PNG images of the report: ``seed_curve.png`` (cam mode: mIoU/FP/FN
    against the threshold) and ``seed_classes.png`` (per-class bars).

    Uses matplotlib's object API with the Agg canvas, so the caller's pyplot
    backend is left alone.
    """
    from matplotlib.figure import Figure
    plots = {}
    if 'curve' in report:
        c = report['curve']
        fig = Figure(figsize=(6, 4))
        ax = fig.add_subplot()
        nan = lambda vs: [np.nan if v is None else v for v in vs]  # noqa: E731
        for key, style in (('mIoU', '-'), ('FP', '--'), ('FN', ':')):
            ax.plot(c['threshold'], nan(c[key]), style, label=key)
        ax.axvline(report['best_threshold'], color='grey', lw=.8)
        if 'authors_rule' in report:
            ax.axvline(report['authors_rule']['threshold'], color='grey', lw=.8, ls='--')
        ax.set_xlabel('background threshold')
        ax.set_ylabel('%')
        ax.set_title(f'best {report["best_threshold"]:.2f}: mIoU {report["mIoU"]:.1f}, '
                     f'FP {report["FP"]:.1f}, FN {report["FN"]:.1f}')
        ax.legend()
        ax.grid(alpha=.3)
        plots['seed_curve.png'] = _png(fig)
    names = list(report['per_class'])
    fig = Figure(figsize=(max(6, .35 * len(names)), 4))
    ax = fig.add_subplot()
    x = np.arange(len(names))
    for k, key in enumerate(('IoU', 'FP', 'FN')):
        vals = [np.nan if report['per_class'][n][key] is None else report['per_class'][n][key] for n in names]
        ax.bar(x + (k - 1) * .27, vals, .27, label=key)
    ax.set_xticks(x, names, rotation=90, fontsize=7)
    ax.set_ylabel('%')
    ax.legend()
    plots['seed_classes.png'] = _png(fig)
    return plots


def write_files_together(out_dir: str, files: Dict[str, bytes], what: str = 'files') -> List[Path]:
    """Write every ``{name: data}`` into ``out_dir``, all or none.

    Each is written to a temporary file in ``out_dir`` (and synced); only
    when all are complete are they renamed over their targets, so an error
    while writing (a full disk) leaves the previous files intact, and no
    temporary file behind.

    Raises:
        OSError: naming the file that could not be written and saying that
            none of them was replaced.
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    temps: List[Tuple[str, Path]] = []
    try:
        for name, data in files.items():
            try:
                fd, tmp = tempfile.mkstemp(prefix=f'.{name}.', suffix='.tmp', dir=folder)
                temps.append((name, Path(tmp)))
                with os.fdopen(fd, 'wb') as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as e:  # its own message names the temporary file at best: name the target
                raise OSError(e.errno, f'cannot write {folder / name}: {e.strerror}; none of the {what} '
                              f'({", ".join(files)}) in {folder} was replaced') from e
    except BaseException:
        for _, tmp in temps:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        raise
    umask = os.umask(0)
    os.umask(umask)
    written = []
    for name, tmp in temps:
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual mode
        os.replace(tmp, folder / name)
        written.append(folder / name)
    return written


def write_report(report: dict, out_dir: str) -> List[Path]:
    """Write ``seed_eval.json`` and the plots into ``out_dir``, all or none.

    The plots are rendered before anything is written, and the files are
    renamed into place only when all are written (:func:`write_files_together`),
    so an error (a full disk) leaves the previous report as it was.
    """
    plots = render_plots(report)
    files = {'seed_eval.json': json.dumps(report, indent=1).encode()}
    files.update(plots)
    return write_files_together(out_dir, files, 'report files')


def evaluate_seeds(cfg: Mapping, cam_dir: str, progress: bool = True) -> dict:
    """Score a CAM folder for a stage-1 config (``{img_id}{cam_suffix}`` files, the config's ``cam_suffix``)
    on the config's ``cam_eval`` split; returns the report dict."""
    ev = cfg.get('cam_eval')
    if ev is None:
        raise KeyError(f'{cfg.filename}: the config has no cam_eval section to score seeds with')
    ids = read_split(osp.join(ev['data_root'], ev['split']))
    result = evaluate_cam_dir(cam_dir, osp.join(ev['data_root'], ev['gt_dir']), ids,
                              num_classes=ev['num_classes'], listed_by=ev['split'], progress=progress,
                              suffix=config_cam_suffix(cfg))
    return build_report(result)
