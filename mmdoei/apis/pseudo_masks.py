"""Random-walk inference over a dataset with mmengine's Runner: up-front CAM
checks, resume by skipping finished masks, rank split, atomic writes.

``tools/psa_infer.py`` is a thin command line around :func:`run_psa_inference`;
the pipeline (:mod:`mmdoei.apis.pipeline`) calls it in-process.

One run writes into a mask folder at a time (its lock), and a folder resumes
only for the same inputs (its record, :mod:`mmdoei.utils.record`): the
AffinityNet checkpoint, the CAM folder, the walk settings and the image list.
"""
import contextlib
import copy
import os
import os.path as osp
from typing import List, Optional

from mmengine.config import Config
from mmengine.dist import get_dist_info
from mmengine.evaluator import Evaluator
from mmengine.logging import print_log
from mmengine.registry import DATASETS, init_default_scope
from mmengine.runner import Runner

from mmdoei.cam.io import check_cam_folder, check_cam_suffix
from mmdoei.engine.hooks import cam_transform_names, pseudo_mask_record
from mmdoei.utils.compat import setup_env
from mmdoei.utils.files import read_label_png, sample_id
from mmdoei.utils.locks import folder_lock
from mmdoei.utils.record import claim, remove_stale_temporaries
from mmdoei.utils.weights import load_runner_weights
from .config_surgery import CAM_TRANSFORM_DEFAULTS, cam_transform_cfgs, set_cam_dir


def pending_indices(dataset, out_dir: str, suffix: str = '.png') -> List[int]:
    """Indices of the samples whose ``{out_dir}/{img_id}{suffix}`` is missing.

    Masks are written atomically, so an existing file is complete.
    """
    return [i for i in range(len(dataset))
            if not osp.isfile(osp.join(out_dir, sample_id(dataset.get_data_info(i)) + suffix))]


def _launch_rank(launcher: str) -> int:
    """This process's global rank before the Runner initialises ``torch.distributed``
    (mmengine's ``get_rank`` is 0 everywhere until then), from the launcher's environment."""
    if launcher == 'none':
        return 0
    for var in ('RANK', 'SLURM_PROCID', 'OMPI_COMM_WORLD_RANK'):
        if os.environ.get(var) is not None:
            return int(os.environ[var])
    return 0


def score_mask_folder(evaluator_cfg, dataset, out_dir: str, suffix: str = '.png') -> dict:
    """The test evaluator's metrics over every mask of ``dataset`` in ``out_dir``
    (read back from the files, so a resumed run scores the whole folder, not
    only what it wrote). Under ``torch.distributed`` the ranks split the
    images; every rank gets the result.
    """
    evaluator = evaluator_cfg if isinstance(evaluator_cfg, Evaluator) else Evaluator(evaluator_cfg)
    evaluator.dataset_meta = dataset.metainfo
    rank, world = get_dist_info()
    for i in range(rank, len(dataset), world):
        info = dataset.get_data_info(i)
        pred = read_label_png(osp.join(out_dir, sample_id(info) + suffix))
        evaluator.process([dict(pred_sem_seg=dict(data=pred), seg_map_path=info.get('seg_map_path'),
                                img_path=info.get('img_path'))])
    return evaluator.evaluate(len(dataset))


def run_psa_inference(cfg: Config,
                      checkpoint: str,
                      cam_dir: str,
                      out_dir: str,
                      launcher: str = 'none',
                      evaluate: bool = True,
                      work_dir: Optional[str] = None,
                      overwrite: bool = False, partial_load: bool = False,
                      cam_suffix: Optional[str] = None) -> dict:
    """Write random-walk pseudo masks for ``cfg.test_dataloader``'s images.

    1. Points the test pipeline's CAM transform at ``cam_dir`` (reading
       ``{img_id}{cam_suffix}``; None keeps the transform's own ``cam_suffix``,
       a bad one is refused before anything else) and adds the writer and
       progress hooks.
    2. Builds the dataset alone; takes ``out_dir``'s lock (rank 0, for the
       whole run: a second run into it stops at once, naming this one) and
       claims the folder: its record must say the same inputs made it
       (checkpoint, CAM folder, model and walk settings, image list), else
       the run stops listing the differences, unless ``overwrite`` (then
       its masks are deleted and all are recomputed). Keeps the images whose
       mask is not in ``out_dir`` yet (resume).
    3. Checks the CAM files of those images (existence, readability, classes
       against the image labels, size against the image) from their headers
       and raises one error listing every bad file, before any model work
       (and before the mask folder is created or claimed).
    4. Checks that ``checkpoint`` fits the model (refused unless
       ``partial_load``: see :func:`mmdoei.utils.weights.check_fit`).
    5. Runs mmengine's test loop on them (``DefaultSampler`` splits them over
       the ranks under ``torchrun``). Unless ``evaluate`` is False,
       ``test_evaluator`` (the seed metric in mask mode) then scores every
       mask of the dataset in ``out_dir``, those of earlier runs included.

    Returns:
        The metrics of the whole folder (``{}`` when ``evaluate`` is False).
    """
    if cam_suffix is not None:
        check_cam_suffix(cam_suffix)
    setup_env()
    cfg = copy.deepcopy(cfg)
    if cfg.test_dataloader.dataset.get('indices') is not None:
        raise ValueError('test_dataloader.dataset.indices is set in the config; remove it (resume selects '
                         'the images itself)')
    cam_cfgs = cam_transform_cfgs(cfg.test_dataloader.dataset.pipeline, cfg.get('default_scope', None))
    if not cam_cfgs:
        where = f'{cfg.filename}: ' if cfg.filename else ''
        raise ValueError(f'{where}the test pipeline of this config reads no CAMs (no transform whose class says '
                         f'reads_cams = True: {" / ".join(cam_transform_names())})')
    set_cam_dir(cfg, cam_dir, cam_suffix=cam_suffix)
    cam_cfg = dict(CAM_TRANSFORM_DEFAULTS, **cam_cfgs[0])
    cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [
        dict(type='PseudoMaskWriterHook', out_dir=out_dir, lock=False),  # held here, with the record
        dict(type='ProgressBarHook')
    ]
    # The bar shows progress; per-iteration log lines would only break it up.
    if cfg.get('default_hooks', {}).get('logger') is not None:
        cfg.default_hooks.logger.interval = 10**9
    cfg.load_from = checkpoint
    cfg.resume = False
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', 'psa_infer', osp.splitext(osp.basename(cfg.filename or 'psa'))[0])
    # The test loop only writes; the folder is scored afterwards, earlier runs' masks included.
    evaluator_cfg = cfg.get('test_evaluator') if evaluate else None
    cfg.test_evaluator = []

    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    ds_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    ds_cfg['pipeline'] = []  # only the sample list is needed here
    dataset = DATASETS.build(ds_cfg)
    # with overwrite rank 0 deletes every mask; the other ranks may look before it does
    pending = (lambda: list(range(len(dataset)))) if overwrite else (lambda: pending_indices(dataset, out_dir))

    def check_cams(indices: List[int]) -> None:
        if indices:
            check_cam_folder(cam_dir, [dataset.get_data_info(i) for i in indices], cam_cfg['num_classes'],
                             cam_cfg['cam_suffix'], progress=len(indices) > 1000)

    # Bad CAM files stop the run before anything is written, the mask folder included.
    todo = pending()
    check_cams(todo)
    with contextlib.ExitStack() as held:
        if _launch_rank(launcher) == 0:
            held.enter_context(folder_lock(out_dir, 'pseudo-mask folder'))
            # Under the lock, temporary files are a killed run's (finished masks are whole).
            remove_stale_temporaries(out_dir, 'pseudo_masks')
            claim(out_dir, pseudo_mask_record(cfg.model.to_dict(), checkpoint, cam_dir, cam_cfg, dataset),
                  overwrite)
        checked, todo = set(todo), pending()  # masks deleted meanwhile are checked too
        check_cams([i for i in todo if i not in checked])
        print_log(f'{len(dataset) - len(todo)} of {len(dataset)} pseudo masks already in {out_dir}; '
                  f'{len(todo)} to do', logger='current')
        if todo:
            print_log(f'checked {len(todo)} CAM files in {cam_dir}', logger='current')
            cfg.test_dataloader.dataset.indices = todo
            runner = Runner.from_cfg(cfg)
            # The Runner would load load_from with strict=False (a wrong checkpoint only warns).
            load_runner_weights(runner, checkpoint, partial=partial_load, flag='--partial-load (partial_load=True)')
            runner.test()
        if not evaluator_cfg:
            return {}
        metrics = score_mask_folder(evaluator_cfg, dataset, out_dir)
    print_log(f'scores of all {len(dataset)} masks in {out_dir}: ' +
              ', '.join(f'{k}: {v}' for k, v in metrics.items()), logger='current')
    return metrics
