"""The few functions a notebook user calls.

    from mmdoei.apis import init_model, inference_cams, show_cams
    model = init_model('configs/doei/mct_voc.py', 'doei-mct_voc.pth')
    result = inference_cams(model, 'demo.jpg')            # labels predicted if not given
    show_cams('demo.jpg', result, out_file='demo_cams.png')

The CAMs are those ``tools/test.py CONFIG CKPT --cam-out DIR`` writes for the
same image and labels: the config's ``cam_gen`` protocol (:func:`cam_protocol`),
the 8-bit image as the config's ``cam_pipeline`` loads it, and the same last
step (:func:`mmdoei.cam.multiscale.protocol_cams`). A model whose config carries
DOEI (``doei=``, a ``DOEIModel`` or a ``DOEIHook``) is built with DOEI attached.
"""
import contextlib
import logging
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Union

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.logging import MMLogger, print_log
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS, TRANSFORMS
from torch import nn

from mmdoei.cam.multiscale import pass_sizes, protocol_cams
from mmdoei.cam.render import CAMRenderer, save_png
from mmdoei.datasets.categories import seg_class_names
from mmdoei.doei import attach_from_hooks, attach_logged, deferred_doei_log, doei_handle
from mmdoei.doei.model import describe
from mmdoei.utils.config import config_hooks, replace_entries
from mmdoei.utils.files import image_size
from mmdoei.utils.weights import load_weights
from .config_surgery import cam_protocol
from .hub import is_model_name, model_info, resolve_model

ImageLike = Union[str, Path, np.ndarray]


@contextlib.contextmanager
def quiet_build(verbose: bool = False) -> Iterator[None]:
    """mmengine's current logger at WARNING inside unless ``verbose``: building a model
    logs every parameter's initialisation (hundreds of lines) at INFO."""
    # The current logger, and mmengine's default one that BaseModule.init_weights writes to.
    loggers = {id(lg): lg for lg in (MMLogger.get_current_instance(), MMLogger.get_instance('mmengine'))}
    levels = {k: lg.level for k, lg in loggers.items()}
    if not verbose:
        for lg in loggers.values():
            lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for k, lg in loggers.items():
            lg.setLevel(levels[k])


def set_doei(model: nn.Module, doei: Union[dict, bool, None]) -> List[str]:
    """Switch DOEI of a built model: a dict attaches it with those settings (replacing
    any), ``False`` detaches it (the model then computes exactly as without DOEI,
    the adapters being drop-in), ``True``/None leave it. Returns the log lines."""
    if doei is None or doei is True:
        return []
    if doei is False:
        handle = doei_handle(model)
        if handle is None:
            return []
        handle.remove()
        return [f'DOEI detached from {type(handle.backbone).__name__} (doei=False)']
    if not isinstance(doei, dict):
        raise TypeError(f'doei must be a dict of DOEIConfig keys, True/None (as configured) or False (off), '
                        f'got {doei!r}')
    with deferred_doei_log() as lines:
        attach_logged(model, doei)
    return lines


def config_num_threads(cfg: Optional[Config]) -> Optional[int]:
    """The intra-op thread count the config's ``NumThreadsHook`` sets for its loops
    (``default_hooks.num_threads`` or a ``custom_hooks`` entry), or None."""
    hooks = config_hooks(cfg, 'NumThreadsHook') if cfg is not None else []
    return int(hooks[0]['num_threads']) if hooks else None


@contextlib.contextmanager
def config_threads(cfg: Optional[Config]) -> Iterator[None]:
    """Run the block at the config's thread count (:func:`config_num_threads`), as
    ``tools/test.py`` runs its loop, then give the process its own count back.

    Why: a CPU convolution or reduction split over another number of threads adds
    in another order (oneDNN may even pick another algorithm), so the same image
    gave TransCAM CAMs that differed by up to 5e-4 (one float16 step of the CAM
    file, on 4% of demo/chelsea.jpg's pixels) between a one-thread notebook and
    the tool's two threads. Nothing changes when the config sets no count.
    """
    threads = config_num_threads(cfg)
    previous = torch.get_num_threads()
    if threads is None or threads == previous:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def init_model(config: Union[str, Config], checkpoint: Optional[str] = None,
               device: str = 'cpu', partial: bool = False, verbose: bool = False,
               doei: Union[dict, bool, None] = None, partial_flag: str = 'partial=True',
               **cfg_options) -> nn.Module:
    """Build a stage-1 classifier from a config (or a zoo model's name) and load its weights.

    DOEI follows the config: ``model.doei``, a ``DOEIModel`` model or a
    ``DOEIHook`` in ``custom_hooks`` (attached here as the hook would in a
    Runner); one log line says so. ``doei=dict(...)`` switches it on with those
    settings (e.g. for CAM extraction only), ``doei=False`` off.

    ``cfg_options`` update ``model``. The backbone's pretrained ``init_cfg`` is
    dropped when a checkpoint is given (its weights are replaced anyway).
    mmengine's log is at WARNING while building unless ``verbose``.

    The checkpoint (a path or URL, loaded with ``weights_only=True``) must fit
    the model: a checkpoint with missing, unexpected or mis-shaped tensors
    raises ``ValueError`` naming it, unless ``partial=True`` (then only the
    matching tensors are loaded; see :func:`mmdoei.utils.weights.load_weights`).
    ``partial_flag`` is how that message names the option (a tool passes its
    command-line flag, e.g. ``--partial-load``).
    """
    if isinstance(config, str) and not Path(config).is_file():
        if is_model_name(config):  # its config; weights come from `checkpoint` (or use get_model)
            config = model_info(config)['Config']
    cfg = Config.fromfile(config) if not isinstance(config, Config) else config
    model_cfg = cfg.model.copy()
    model_cfg.update(cfg_options)
    if checkpoint is not None:
        model_cfg.setdefault('backbone', {})['init_cfg'] = None
    if 'data_preprocessor' in cfg and 'data_preprocessor' not in model_cfg:
        model_cfg['data_preprocessor'] = cfg.data_preprocessor
    with deferred_doei_log() as lines, quiet_build(verbose):
        model = MODELS.build(model_cfg)
        attach_from_hooks(model, cfg)  # a DOEIHook config, as in a Runner
        if checkpoint is not None:
            load_weights(model, checkpoint, partial=partial, flag=partial_flag, map_location='cpu')
        else:
            model.init_weights()
    handle = doei_handle(model)
    if not lines and handle is not None:  # attached by the model's own doei= (WSSSClassifier)
        lines = [describe(handle.backbone, handle)]
    if doei is not None and doei is not True:
        lines = set_doei(model, doei)
    for line in lines[-1:]:  # one line: the DOEI the model ends up with
        print_log(line, logger='current')
    model.cfg = cfg
    return model.to(device).eval()


def get_model(name_or_config: Union[str, Config], pretrained: Union[bool, str] = False,
              device: str = 'cpu', partial: bool = False, verbose: bool = False,
              doei: Union[dict, bool, None] = None, partial_flag: str = 'partial=True',
              **cfg_options) -> nn.Module:
    """A model of the zoo by name (or from a config), ready for inference.

    Args:
        name_or_config: A name of :func:`list_models`, a config file or a ``Config``.
        pretrained: ``True`` for the entry's weights (downloaded safely, hash
            checked, converted if they are the authors'), a path or URL for other
            weights, ``False`` for a freshly initialised model (no ``Pretrained``
            ``init_cfg`` is loaded either).
        device: Where to put the model.
        partial: Load a checkpoint that does not fit the model (its matching
            tensors only) instead of refusing it, as :func:`init_model`.
        verbose: mmengine's INFO log while building (the init log of every
            parameter); by default only warnings, and one line if DOEI is attached.
        doei: DOEI as the config says (None), on with these settings (a dict)
            or off (``False``); a ``doei_*`` model has it on.
        partial_flag: How the error of a checkpoint that does not fit names
            ``partial`` (a tool's ``--partial-load``).
        **cfg_options: Updates of ``model``, as :func:`mmdoei.apis.init_model`.

    Returns:
        The model in eval mode, with ``model.cfg``.
    """
    cfg, checkpoint = resolve_model(name_or_config, pretrained)
    if pretrained is False:
        replace_entries(cfg.model, 'init_cfg', None,
                        lambda v: isinstance(v, dict) and v.get('type') == 'Pretrained')
        # mmseg's ``model.pretrained`` (a checkpoint path or URL) and backbones that
        # fetch their own weights when built (TIMMBackbone(pretrained=True)) load too.
        replace_entries(cfg.model, 'pretrained', None, lambda v: isinstance(v, str))
        replace_entries(cfg.model, 'pretrained', False, lambda v: v is True)
    # Built in the config's registry scope, as the Runner does: parts such as a data
    # preprocessor are looked up there, and stage-3 configs (mmseg) find their models.
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope') or 'mmpretrain'):
        return init_model(cfg, checkpoint, device=device, partial=partial, verbose=verbose, doei=doei,
                          partial_flag=partial_flag, **cfg_options)


def _load(model: nn.Module, img: ImageLike) -> Dict:
    """The image through the config's CAM pipeline (or a plain loader) and the preprocessor.

    Returns the preprocessor's batch (``inputs``: normalised, for the scores),
    ``uint8``: the ``(3, H, W)`` 8-bit image as loaded (what the CAM passes
    resize, as ``tools/test.py --cam-out``) and ``bgr``: it as ``(H, W, 3)``.
    """
    pipeline = model.cfg.get('cam_pipeline') if hasattr(model, 'cfg') else None
    pipeline = pipeline or [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
    if isinstance(img, np.ndarray):  # BGR uint8, as mmcv reads images
        pipeline = [p for p in pipeline if p['type'] != 'LoadImageFromFile']
        data = dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2])
    else:
        image_size(str(img))  # header first: a FIFO, a bomb or an image over the pixel budget is named, not decoded
        data = dict(img_path=str(img))
    data = Compose([TRANSFORMS.build(t) for t in pipeline])(data)  # mmpretrain's scope
    batch = model.data_preprocessor(dict(inputs=[data['inputs']], data_samples=[data['data_samples']]), False)
    batch['uint8'] = data['inputs'].to(torch.uint8) if data['inputs'].dtype != torch.uint8 else data['inputs']
    batch['bgr'] = data['inputs'].permute(1, 2, 0).numpy()
    return batch


def model_class_names(model: nn.Module) -> List[str]:
    """The foreground class names of a classifier: VOC's or COCO's by its class count,
    else ``class_1``, ``class_2``, ..."""
    num_classes = getattr(model, 'num_classes', None)
    if num_classes is None and hasattr(model, 'cfg'):
        num_classes = model.cfg.model.get('num_classes')
    return list(seg_class_names(int(num_classes or 20) + 1)[1:])


def resolve_labels(labels: Sequence[Union[int, str]], class_names: Sequence[str]) -> List[int]:
    """0-based class indices of ``labels`` given as indices or names.

    Raises:
        ValueError: an unknown name or an index out of range, naming it and listing the valid names.
    """
    if isinstance(labels, (str, int, np.integer)):
        labels = [labels]
    valid = ', '.join(f'{i}={n}' for i, n in enumerate(class_names))
    if len(labels) == 0:
        raise ValueError(f'labels={list(labels)!r} names no class: give at least one class by name or '
                         f'0-based index, or labels=None for the predicted ones; valid classes: {valid}')
    out = []
    for label in labels:
        if isinstance(label, str) and label not in class_names and label.lstrip('-').isdigit():
            label = int(label)  # '-1' or '2' from a command line: an index, not a name
        if isinstance(label, str):
            if label not in class_names:
                raise ValueError(f'unknown class name {label!r}; valid classes: {valid}')
            out.append(list(class_names).index(label))
        elif isinstance(label, (int, np.integer)) and not isinstance(label, (bool, np.bool_)):
            if int(label) < 0:
                raise ValueError(f'class index {int(label)}: negative indices are not classes (classes are '
                                 f'0-based indices 0..{len(class_names) - 1} or names); valid classes: {valid}')
            if int(label) >= len(class_names):
                raise ValueError(f'class index {int(label)} out of range 0..{len(class_names) - 1}; '
                                 f'valid classes: {valid}')
            out.append(int(label))
        else:
            raise ValueError(f'a class must be a name or a 0-based index, got {label!r}; valid classes: {valid}')
    twice = sorted({class_names[c] for c in out if out.count(c) > 1})
    if twice:
        raise ValueError(f'labels {list(labels)!r} name {", ".join(twice)} more than once: give each class once '
                         '(its CAM is one map)')
    return out


def model_patch_size(model: nn.Module) -> Optional[int]:
    """The larger side of the backbone's patch (``backbone.patch_size`` or its patch embedding's
    stride), or None when the model has no such single patch (e.g. Conformer's CNN stem)."""
    backbone = getattr(model, 'backbone', model)
    size = getattr(backbone, 'patch_size', None)
    if size is None:
        proj = getattr(getattr(backbone, 'patch_embed', None), 'projection', None)
        size = getattr(proj, 'stride', None)
    if size is None:
        return None
    return int(max(size)) if isinstance(size, (tuple, list)) else int(size)


def check_patch_size(model: nn.Module, hw: Sequence[int], pass_hw: Sequence[Sequence[int]], what: str) -> None:
    """Refuse an image (``what``, of size ``hw``) that, or any CAM pass of which (``pass_hw``), is
    smaller than one patch of the model: it has no patch to compute a CAM from.

    Raises:
        ValueError: naming ``what``, its size, the pass and the patch size.
    """
    patch = model_patch_size(model)
    if patch is None:
        return
    small = [tuple(s) for s in [tuple(hw)] + [tuple(p) for p in pass_hw] if min(s) < patch]
    if small:
        passes = '' if small[0] == tuple(hw) else f' (its CAM pass at {small[0][0]} x {small[0][1]})'
        raise ValueError(f'{what}: image of {hw[0]} x {hw[1]} pixels{passes} is smaller than one '
                         f'{patch} x {patch} patch of the model, so it has no patch to compute CAMs from; '
                         f'give an image of at least {patch} pixels a side (or larger scales)')


@torch.no_grad()
def inference_cams(model: nn.Module, img: ImageLike, labels: Optional[Sequence[Union[int, str]]] = None,
                   scales: Optional[Sequence[float]] = None, flip: Optional[bool] = None, thr: float = 0.5,
                   protocol: Optional[str] = None, class_names: Optional[Sequence[str]] = None,
                   **cam_cfg) -> Dict:
    """CAMs of one image (a path, or a BGR uint8 array), as ``tools/test.py --cam-out`` makes them
    (at the thread count of the config's ``NumThreadsHook`` too, :func:`config_threads`).

    Args:
        labels: Classes to map, 0-based indices or names (``['bird']``); by
            default those the model predicts with score >= ``thr`` (the top one
            if none does).
        scales: Override the protocol's scales (replacing its fixed sizes);
            None keeps the protocol's.
        flip: Override the protocol's flip; None keeps the protocol's.
        protocol: A named protocol of :data:`~mmdoei.cam.CAM_PROTOCOLS` instead
            of the config's ``cam_gen`` (as ``tools/test.py --cam-protocol``).
        class_names: Names ``labels`` may use; by default the model's
            (:func:`model_class_names`).
        **cam_cfg: Overrides of the model's CAM settings.

    Returns:
        ``dict(labels, scores, cams, image)``: ``cams`` is ``(K, H, W)`` float32
        in [0, 1] at the image's size; ``scores`` the sigmoid scores of all
        classes; ``image`` the RGB image.

    Raises:
        ValueError: an unknown class name or index (the message lists the valid ones), or
            an image smaller than one patch of the model (:func:`check_patch_size`).
    """
    with config_threads(getattr(model, 'cfg', None)):
        return _inference_cams(model, img, labels, scales, flip, thr, protocol, class_names, cam_cfg)


def _inference_cams(model: nn.Module, img: ImageLike, labels: Optional[Sequence[Union[int, str]]],
                    scales: Optional[Sequence[float]], flip: Optional[bool], thr: float, protocol: Optional[str],
                    class_names: Optional[Sequence[str]], cam_cfg: dict) -> Dict:
    if scales is not None and any(not s > 0 for s in scales):
        raise ValueError(f'CAM scales must be positive, got {list(scales)}')
    gen = cam_protocol(getattr(model, 'cfg', None) or Config(), protocol, scales, flip, cam_cfg)
    names = list(class_names) if class_names is not None else model_class_names(model)
    if labels is not None:
        labels = resolve_labels(labels, names)
    batch = _load(model, img)
    hw = tuple(batch['uint8'].shape[-2:])
    what = str(img) if not isinstance(img, np.ndarray) else f'the image array {tuple(img.shape)}'
    check_patch_size(model, hw, pass_sizes(hw, gen['scales'], gen['sizes']), what)
    scores = torch.sigmoid(model(batch['inputs'])[0])[0]
    if labels is None:
        labels = torch.where(scores >= thr)[0].tolist() or [int(scores.argmax())]
    device = next(model.parameters()).device
    cams = protocol_cams(model, batch['uint8'].to(device), labels, gen['scales'], gen['flip'], sizes=gen['sizes'],
                         interpolation=gen['interpolation'], norm=gen['norm'], amp=gen['amp'], **gen['cam_cfg'])
    return dict(labels=list(labels), scores=scores.cpu().numpy(), cams=cams.cpu().numpy(),
                image=np.ascontiguousarray(batch['bgr'][..., ::-1]))


def show_cams(img: ImageLike, result: Dict, out_file: Optional[str] = None,
              class_names: Optional[Sequence[str]] = None, scaling: str = 'per_class',
              seed: Optional[np.ndarray] = None, max_cols: int = 4) -> np.ndarray:
    """The image and one overlay per class, drawn by :class:`~mmdoei.cam.render.CAMRenderer` as
    ``CAMInferencer`` draws them (class names, scores when ``result`` has them, a colour bar; the
    seeds and their legend when ``seed`` or ``result['seed']`` is given), as an RGB array; saved
    (atomically) if ``out_file``. ``class_names`` default to the dataset's (VOC's or COCO's by the
    length of ``result['scores']``, else VOC's)."""
    rgb = result.get('image')
    if rgb is None:
        rgb = cv2.imread(str(img))[..., ::-1] if not isinstance(img, np.ndarray) else img[..., ::-1]
    scores = result.get('scores')
    if class_names is None:
        class_names = seg_class_names(len(scores) + 1 if scores is not None else 21)[1:]
    seed = result.get('seed') if seed is None else seed
    row = CAMRenderer(scaling=scaling, max_cols=max_cols).render(
        np.ascontiguousarray(rgb), result['cams'], result['labels'], class_names, scores=scores, seed=seed)
    if out_file:
        save_png(out_file, row)
    return row
