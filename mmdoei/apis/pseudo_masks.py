"""Random-walk inference over a dataset with mmengine's Runner: up-front CAM
checks, resume by skipping finished masks, rank split, atomic writes.

``tools/psa_infer.py`` is a thin command line around :func:`run_psa_inference`;
the pipeline (:mod:`mmdoei.apis.pipeline`) calls it in-process.
"""
import copy
import os.path as osp
from typing import List, Optional

from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import DATASETS, init_default_scope
from mmengine.runner import Runner

from mmdoei.cam.io import check_cam_folder
from mmdoei.engine.hooks import CAM_TRANSFORMS
from mmdoei.utils.compat import setup_env
from mmdoei.utils.files import sample_id
from mmdoei.utils.weights import check_fit

CAM_TRANSFORM_DEFAULTS = dict(num_classes=21, cam_suffix='.npz')


def cam_transform_cfgs(pipeline: List[dict]) -> List[dict]:
    """The CAM-reading transform configs of a pipeline (config dicts)."""
    return [t for t in pipeline if isinstance(t, dict) and t.get('type', '').split('.')[-1] in CAM_TRANSFORMS]


def set_cam_dir(cfg: Config, cam_dir: str, cache_dir: Optional[str] = None) -> int:
    """Point every CAM-reading transform of the config's dataloaders at ``cam_dir``.

    Configs resolve ``cam_dir`` into the pipelines when they are parsed, so
    overriding the variable alone would change nothing (as with
    ``data_root``). A transform with a CRF cache gets ``cache_dir``, by
    default ``{cam_dir}_psa_crf``, so cached labels never outlive their CAMs.

    Returns:
        The number of transforms changed.
    """
    count = 0
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        dataset = loader.get('dataset') if loader else None
        while dataset is not None:
            for t in cam_transform_cfgs(dataset.get('pipeline', [])):
                t['cam_dir'] = cam_dir
                if t.get('cache_dir') is not None:
                    t['cache_dir'] = cache_dir or osp.normpath(cam_dir) + '_psa_crf'
                count += 1
            dataset = dataset.get('dataset')  # through RepeatDataset-style wrappers
    return count


def pending_indices(dataset, out_dir: str, suffix: str = '.png') -> List[int]:
    """Indices of the samples whose ``{out_dir}/{img_id}{suffix}`` is missing.

    Masks are written atomically, so an existing file is complete.
    """
    return [i for i in range(len(dataset))
            if not osp.isfile(osp.join(out_dir, sample_id(dataset.get_data_info(i)) + suffix))]


def run_psa_inference(cfg: Config,
                      checkpoint: str,
                      cam_dir: str,
                      out_dir: str,
                      launcher: str = 'none',
                      evaluate: bool = True,
                      work_dir: Optional[str] = None,
                      partial_load: bool = False) -> dict:
    """Write random-walk pseudo masks for ``cfg.test_dataloader``'s images.

    1. Points the test pipeline's CAM transform at ``cam_dir`` and adds the
       writer and progress hooks.
    2. Builds the dataset alone and keeps the images whose mask is not in
       ``out_dir`` yet (resume); stops if there are none.
    3. Checks the CAM files of those images (existence, readability, classes
       against the image labels, size against the image) from their headers
       and raises one error listing every bad file, before any model work.
    4. Checks that ``checkpoint`` fits the model (refused unless
       ``partial_load``: see :func:`mmdoei.utils.weights.check_fit`).
    5. Runs mmengine's test loop on them (``DefaultSampler`` splits them over
       the ranks under ``torchrun``); ``test_evaluator`` (the seed metric in
       mask mode) scores the masks of this run unless ``evaluate`` is False.

    Returns:
        The test loop's metrics (``{}`` when nothing was left to do or
        ``evaluate`` is False).
    """
    setup_env()
    cfg = copy.deepcopy(cfg)
    if cfg.test_dataloader.dataset.get('indices') is not None:
        raise ValueError('test_dataloader.dataset.indices is set in the config; remove it (resume selects '
                         'the images itself)')
    cam_cfgs = cam_transform_cfgs(cfg.test_dataloader.dataset.pipeline)
    if not cam_cfgs:
        raise ValueError(f'the test pipeline of this config reads no CAMs (no {" / ".join(CAM_TRANSFORMS)})')
    set_cam_dir(cfg, cam_dir)
    cam_cfg = dict(CAM_TRANSFORM_DEFAULTS, **cam_cfgs[0])
    cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [
        dict(type='PseudoMaskWriterHook', out_dir=out_dir),
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
    if not evaluate:
        cfg.test_evaluator = []

    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    ds_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    ds_cfg['pipeline'] = []  # only the sample list is needed here
    dataset = DATASETS.build(ds_cfg)
    todo = pending_indices(dataset, out_dir)
    print_log(f'{len(dataset) - len(todo)} of {len(dataset)} pseudo masks already in {out_dir}; '
              f'{len(todo)} to do', logger='current')
    if not todo:
        return {}
    check_cam_folder(cam_dir, [dataset.get_data_info(i) for i in todo], cam_cfg['num_classes'],
                     cam_cfg['cam_suffix'], progress=len(todo) > 1000)
    print_log(f'checked {len(todo)} CAM files in {cam_dir}', logger='current')

    cfg.test_dataloader.dataset.indices = todo
    runner = Runner.from_cfg(cfg)
    # The Runner loads load_from with strict=False: a wrong checkpoint would only warn.
    check_fit(runner.model, checkpoint, partial=partial_load, flag='--partial-load (partial_load=True)')
    metrics = runner.test()
    if evaluate and len(todo) < len(dataset):
        print_log('the metrics above cover only the masks written in this run; score the whole folder with '
                  'tools/analysis_tools/eval_seeds.py --pred-dir', logger='current')
    return metrics
