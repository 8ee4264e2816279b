"""Config surgery shared by tools/test.py, the demo and the pipeline: CAM generation and seed scoring."""
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import Config

from mmdoei.cam import CAM_PROTOCOLS
from mmdoei.cam.io import CAM_SUFFIX, check_cam_suffix
from mmdoei.evaluation import build_report, evaluate_cam_dir
from mmdoei.utils.files import read_split


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


def config_cam_suffix(cfg: Config) -> str:
    """The suffix of a config's CAM files: its top-level ``cam_suffix``, else ``.npz`` (checked)."""
    return check_cam_suffix(cfg.get('cam_suffix', None) or CAM_SUFFIX)


def evaluate_seeds(cfg: Config, cam_dir: str, progress: bool = True) -> dict:
    """Score a CAM folder (``{img_id}{cam_suffix}`` files, the config's ``cam_suffix``)
    on the config's ``cam_eval`` split; returns the report dict."""
    ev = cfg.get('cam_eval')
    if ev is None:
        raise KeyError(f'{cfg.filename}: the config has no cam_eval section to score seeds with')
    ids = read_split(osp.join(ev['data_root'], ev['split']))
    result = evaluate_cam_dir(cam_dir, osp.join(ev['data_root'], ev['gt_dir']), ids,
                              num_classes=ev['num_classes'], listed_by=ev['split'], progress=progress,
                              suffix=config_cam_suffix(cfg))
    return build_report(result)
