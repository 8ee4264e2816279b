"""Config surgery: every change mmdoei makes to a user's config before a Runner runs it.

The tools (``--data-root``, ``--cam-out``, ``--tta``), the notebook API, the
pseudo-mask step and the pipeline all rewrite configs through these functions
and nowhere else, so that one flag means one change wherever it is given:

* :func:`set_data_root`: every ``data_root`` of the dataloaders (``--data-root``);
* :func:`shorten_schedule`: a shorter training and the schedulers that end with it;
* :func:`cam_generation_cfg`, :func:`cam_protocol`, :func:`resolve_cam_gen`:
  the test loop switched to CAM generation with the config's protocol
  (``tools/test.py --cam-out``, ``inference_cams``, ``CAMInferencer``);
* :func:`set_cam_dir`, :func:`cam_transform_cfgs`: the CAM-reading transforms
  pointed at a CAM folder (stage 2 and the pseudo masks);
* :func:`apply_tta`: the segmentor wrapped in its ``tta_model`` (``--tta``).

Reading helpers that change nothing (entries of a type, hooks of a config)
are :mod:`mmdoei.utils.config`'s, which every layer may use.
"""
import os.path as osp
from typing import Any, List, Optional, Sequence

from mmengine.config import Config, ConfigDict

from mmdoei.cam import CAM_PROTOCOLS
from mmdoei.cam.io import CAM_SUFFIX, check_cam_suffix, config_cam_suffix
from mmdoei.engine.hooks import reads_cams
from mmdoei.utils.config import replace_entries


# ---------------------------------------------------------------------- data and schedule
def set_data_root(cfg: Any, data_root: str) -> int:
    """Point every ``data_root`` entry of ``cfg`` (nested dicts and lists) at ``data_root``.

    Configs resolve ``data_root`` into each dataloader when they are parsed, so
    overriding the top-level variable alone would change nothing; this is what
    ``--data-root`` of the tools does. Returns how many entries were changed.
    """
    return replace_entries(cfg, 'data_root', data_root, lambda v: isinstance(v, str))


def shorten_schedule(cfg: Any, length: int) -> Any:
    """Set an epoch- or iteration-based config's training length to ``length``.

    ``max_epochs`` (or ``max_iters``), the validation and checkpoint intervals
    and the end of every parameter scheduler that ended with training follow
    (a warm-up keeps its length). Returns ``cfg`` (changed in place).
    """
    key = 'max_epochs' if 'max_epochs' in cfg.train_cfg else 'max_iters'
    old = cfg.train_cfg.get(key)
    cfg.train_cfg[key] = length
    cfg.train_cfg.val_interval = length
    for sched in cfg.get('param_scheduler') or []:
        if sched.get('end') == old:
            sched['end'] = length
    cfg.default_hooks.checkpoint.interval = length
    return cfg


# ---------------------------------------------------------------------- CAM generation (stage 1)
def cam_generation_cfg(cfg: Config, out_dir: str, scales: Optional[Sequence[float]] = None,
                       flip: Optional[bool] = None, cam_cfg: Optional[dict] = None,
                       overlay: bool = False, protocol: Optional[str] = None,
                       amp: bool = False, overwrite: bool = False, overlay_limit: int = 50,
                       cam_suffix: Optional[str] = None) -> Config:
    """``cfg`` with its test loop switched to :class:`~mmdoei.engine.CAMGenerationLoop`.

    The loop reads ``cam_dataloader`` and the config's ``cam_gen``: a named
    ``protocol`` of :data:`~mmdoei.cam.CAM_PROTOCOLS` (each baseline's
    authors'), overridden by the keys given next to it (``scales``, ``sizes``,
    ``flip``, ``interpolation``, ``norm``, ``cam_cfg``), then by the arguments
    here: ``protocol`` replaces the config's, ``scales`` replaces its sizes.

    ``out_dir`` resumes only a folder whose record says the same inputs made
    it; ``overwrite=True`` deletes CAM outputs made from other ones instead of
    stopping (see :mod:`mmdoei.utils.record`).

    The files are named ``{img_id}{cam_suffix}``: ``cam_suffix`` given here
    (which becomes the config's), else the config's top-level ``cam_suffix``,
    else ``.npz``; :func:`evaluate_seeds` reads the config's.
    """
    if 'cam_dataloader' not in cfg:
        raise KeyError(f'{cfg.filename}: the config has no cam_dataloader to generate CAMs for')
    gen = cam_protocol(cfg, protocol, scales, flip, cam_cfg)
    if amp:
        gen['amp'] = True
    if cam_suffix is not None:
        cfg.cam_suffix = check_cam_suffix(cam_suffix)
    cfg.test_dataloader = cfg.cam_dataloader
    cfg.test_cfg = dict(type='CAMGenerationLoop', out_dir=out_dir, overlay=overlay, overlay_limit=overlay_limit,
                        overwrite=overwrite, cam_suffix=config_cam_suffix(cfg), **gen)
    cfg.test_evaluator = []  # the loop writes files instead of feeding an evaluator
    return cfg


#: What :class:`~mmdoei.engine.CAMGenerationLoop` does for a key ``cam_gen`` leaves out.
LOOP_DEFAULTS = dict(scales=(1.0, ), sizes=None, flip=True, interpolation='bicubic', norm='minmax', amp=False)


def cam_protocol(cfg: Config, protocol: Optional[str] = None, scales: Optional[Sequence[float]] = None,
                 flip: Optional[bool] = None, cam_cfg: Optional[dict] = None) -> dict:
    """The CAM protocol of a config, as ``tools/test.py --cam-out`` runs it: the one source
    of ``tools/test.py``, :func:`~mmdoei.apis.inference_cams` and :class:`~mmdoei.apis.CAMInferencer`.

    The config's ``cam_gen`` resolved by :func:`resolve_cam_gen` (``protocol``
    replaces its named protocol), then ``scales`` (replacing fixed sizes) and
    ``flip`` when given, and ``cam_cfg`` merged into its ``cam_cfg`` (None
    values ignored).

    Returns:
        ``dict(scales, sizes, flip, interpolation, norm, amp, cam_cfg)``, every key set
        (the loop's defaults where the config says nothing).
    """
    gen = resolve_cam_gen(dict(cfg.get('cam_gen', None) or {}), protocol)
    if scales:
        gen['scales'], gen['sizes'] = tuple(scales), None
    if flip is not None:
        gen['flip'] = flip
    gen['cam_cfg'] = {**gen.get('cam_cfg', {}), **{k: v for k, v in (cam_cfg or {}).items() if v is not None}}
    return {**LOOP_DEFAULTS, **gen}


def resolve_cam_gen(gen: dict, protocol: Optional[str] = None) -> dict:
    """A ``cam_gen`` dict with its named protocol expanded (``protocol`` replaces the
    dict's own name and its explicit keys); unknown names are refused."""
    name = protocol or gen.pop('protocol', None)
    gen.pop('protocol', None)
    if name is None:
        return gen
    protocols = CAM_PROTOCOLS.table()  # the registered classifiers' declarations, and ms5
    if name not in protocols:
        raise KeyError(f'unknown CAM protocol {name!r}; known: {sorted(protocols)}')
    if protocol:
        gen = {k: v for k, v in gen.items() if k == 'cam_cfg'}
    elif gen.get('scales') and 'sizes' not in gen:
        gen['sizes'] = None  # a config's own scales replace its protocol's fixed sizes
    return {**protocols[name], **gen}


# ---------------------------------------------------------------------- CAM readers (stage 2)
CAM_TRANSFORM_DEFAULTS = dict(num_classes=21, cam_suffix=CAM_SUFFIX)


def cam_transform_cfgs(pipeline: List[dict], default_scope: Optional[str] = None) -> List[dict]:
    """The CAM-reading transform configs of a pipeline (config dicts): those whose
    class, found in the ``TRANSFORMS`` registries, says ``reads_cams``
    (:func:`~mmdoei.engine.hooks.reads_cams`)."""
    return [t for t in pipeline if isinstance(t, dict) and reads_cams(t, default_scope)]


def set_cam_dir(cfg: Config, cam_dir: str, cache_dir: Optional[str] = None, cam_suffix: Optional[str] = None) -> int:
    """Point every CAM-reading transform of the config's dataloaders at ``cam_dir``.

    Configs resolve ``cam_dir`` into the pipelines when they are parsed, so
    overriding the variable alone would change nothing (as with
    ``data_root``). A transform with a CRF cache gets ``cache_dir``, by
    default ``{cam_dir}_psa_crf``, so cached labels never outlive their CAMs.
    With ``cam_suffix`` (checked by :func:`~mmdoei.cam.io.check_cam_suffix`
    first), every such transform also reads ``{img_id}{cam_suffix}``: the
    suffix the CAMs in ``cam_dir`` were written with (the stage-1 config's
    ``cam_suffix``); None keeps each transform's own.

    Returns:
        The number of transforms changed.
    """
    if cam_suffix is not None:
        check_cam_suffix(cam_suffix)
    count = 0
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        dataset = loader.get('dataset') if loader else None
        while dataset is not None:
            for t in cam_transform_cfgs(dataset.get('pipeline', []), cfg.get('default_scope', None)):
                t['cam_dir'] = cam_dir
                if cam_suffix is not None:
                    t['cam_suffix'] = cam_suffix
                if t.get('cache_dir') is not None:
                    t['cache_dir'] = cache_dir or osp.normpath(cam_dir) + '_psa_crf'
                count += 1
            dataset = dataset.get('dataset')  # through RepeatDataset-style wrappers
    return count


# ---------------------------------------------------------------------- test-time augmentation (stage 3)
def apply_tta(cfg: Config) -> Config:
    """``cfg`` set to test with its ``tta_model`` and ``tta_pipeline``, in place.

    What mmseg's and mmpretrain's ``tools/test.py --tta`` do: the segmentor is
    wrapped in the ``tta_model`` (``module=cfg.model``) and every test
    dataset's pipeline becomes the ``tta_pipeline``.

    Raises:
        KeyError: naming the config when it has no ``tta_model`` or ``tta_pipeline``.
    """
    missing = [k for k in ('tta_model', 'tta_pipeline') if k not in cfg]
    if missing:
        raise KeyError(f'{cfg.filename}: --tta needs {" and ".join(missing)} in the config')
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    return cfg
