"""One stage-1 experiment: train (or reuse a checkpoint), generate CAMs, score seeds.

The demo and the DOEI sweep both run this unit, so a number in the sweep's
CSV and a row of the demo's table come from the same code path.
"""
import copy
import json
import os.path as osp
import shutil
import time
from pathlib import Path
from typing import Optional, Union

from mmengine.config import Config
from mmengine.runner import Runner

from mmdoei.evaluation import write_report
from mmdoei.utils import atomic_write, setup_env
from mmdoei.utils.config import set_data_root, shorten_schedule
from mmdoei.utils.record import discard
from .cams import cam_generation_cfg, evaluate_seeds

_KEEP = object()  # "leave the config's DOEI setting as it is"


def stage1_cfg(config: Union[str, Config], work_dir: str, seed: int = 0, epochs: Optional[int] = None,
               data_root: Optional[str] = None, doei=_KEEP) -> Config:
    """The config of one run: data root, epochs, seed, work dir and DOEI set.

    Args:
        config: A stage-1 config (path or :class:`Config`) with ``cam_dataloader``
            and ``cam_eval``, as the demo configs.
        work_dir: The run's folder.
        seed: ``randomness.seed`` of training (with deterministic algorithms:
            a run repeats bit for bit at the config's thread count).
        epochs: Overrides ``max_epochs`` (and the one-cycle schedule's end, the
            checkpoint and validation intervals with it).
        data_root: Points every ``data_root`` of the config here.
        doei: DOEI settings for ``model.doei``; None removes DOEI; by default
            the config's own setting is kept.
    """
    # a deep copy: Config.copy() shares the nested dicts, and this edits model.doei
    cfg = Config.fromfile(config) if isinstance(config, str) else copy.deepcopy(config)
    if data_root:
        set_data_root(cfg, str(data_root))
    if epochs:
        shorten_schedule(cfg, epochs)
    if doei is not _KEEP:
        if doei is None:
            cfg.model.pop('doei', None)
        else:
            cfg.model.doei = dict(doei)
    cfg.randomness = dict(seed=seed, deterministic=True)
    cfg.work_dir = str(work_dir)
    return cfg


def train_stage1(cfg: Config, name: str = 'train') -> Path:
    """Train ``cfg`` unless its final checkpoint exists; returns the checkpoint path.

    The training time is kept in ``train_seconds.txt`` beside it, so a rerun
    reports the same number.
    """
    setup_env()
    work = Path(cfg.work_dir)
    ckpt = work / f'epoch_{cfg.train_cfg.max_epochs}.pth'
    if not ckpt.exists():
        cfg = cfg.copy()
        cfg.experiment_name = name
        t0 = time.time()
        Runner.from_cfg(cfg).train()
        with atomic_write(work / 'train_seconds.txt', 'w') as f:
            f.write(f'{time.time() - t0:.1f}\n')
    return ckpt


def train_seconds(ckpt: Path) -> float:
    """The recorded training time of a checkpoint written by :func:`train_stage1` (nan if unknown)."""
    timing = Path(ckpt).parent / 'train_seconds.txt'
    return float(timing.read_text()) if timing.exists() else float('nan')


def cams_and_seeds(cfg: Config, checkpoint: str, cam_dir: str, overlay: bool = False,
                   keep_cams: bool = True, name: str = 'cams') -> dict:
    """Generate the CAMs of ``cfg``'s CAM split with ``checkpoint`` and score their seeds.

    The model is built from ``cfg`` (so its ``model.doei`` applies at
    extraction, whatever the checkpoint was trained with: DOEI adds no
    parameters). The report (``seed_eval.json`` and plots) goes to
    ``cam_dir/seed_eval``; with ``keep_cams=False`` the CAM files are removed
    afterwards (a sweep's hundreds of runs need only the numbers). A finished
    report is reused only if it was made from the same model settings (DOEI
    and CAM type included), CAM-generation settings and checkpoint file.
    """
    setup_env()
    report_file = Path(cam_dir) / 'seed_eval' / 'seed_eval.json'
    made_from = Path(cam_dir) / 'made_from.json'
    ckpt = Path(checkpoint)
    stamp = json.dumps(dict(model=cfg.model.to_dict(), cam_gen=cfg.get('cam_gen'), data=cfg.get('cam_dataloader'),
                            checkpoint=str(ckpt.resolve()),
                            checkpoint_mtime=ckpt.stat().st_mtime), sort_keys=True, default=str)
    same = made_from.exists() and made_from.read_text() == stamp
    if same and report_file.exists():
        return json.loads(report_file.read_text())
    if not same:  # other settings made what is there: neither resume from it nor report it
        # CAMs, overlays, report and the folder's record (mmdoei.utils.record), so the loop starts afresh
        discard(cam_dir, 'cams')
        with atomic_write(made_from, 'w') as f:
            f.write(stamp)
    test_cfg = cam_generation_cfg(cfg.copy(), str(cam_dir), overlay=overlay)
    test_cfg.load_from = str(checkpoint)
    test_cfg.experiment_name = name
    test_cfg.work_dir = str(Path(cam_dir) / 'logs')  # not the training folder: a sweep extracts many times
    Runner.from_cfg(test_cfg).test()
    report = evaluate_seeds(cfg, str(cam_dir), progress=False)
    write_report(report, str(Path(cam_dir) / 'seed_eval'))
    if not keep_cams:
        for f in Path(cam_dir).glob('*.npz'):
            f.unlink()
        shutil.rmtree(osp.join(cam_dir, 'overlays'), ignore_errors=True)
    return report


def ensure_synthetic_voc(out_dir: str, num_train: int = 400, img_size: int = 64, seed: int = 0,
                         num_val: Optional[int] = None, style: str = 'demo') -> Path:
    """A synthetic VOC-layout set under ``out_dir/data``, written once (the
    demo's, the sweep's and the pipeline's ``tiny`` data; ``style='heldout'``
    the sweep's held-out set, see :func:`make_synthetic_voc`).

    A marker file says the set is complete, so an interrupted write is redone.
    Returns the ``VOC2012`` folder to use as ``data_root``.
    """
    from mmdoei.generators.synthetic import make_synthetic_voc
    out = Path(out_dir)
    root = out / 'data' / 'VOC2012'
    marker = out / 'data' / (f'.complete-{num_train}' + ('' if style == 'demo' else f'-{style}'))
    if not marker.exists():
        print(f'[data] writing the synthetic VOC-layout data set ({style}) to {root}')
        make_synthetic_voc(out / 'data', num_train=num_train,
                           num_val=num_train // 4 if num_val is None else num_val,
                           img_size=(img_size, img_size), seed=seed, style=style)
        with atomic_write(marker, 'w') as f:
            f.write('ok\n')
    return root
