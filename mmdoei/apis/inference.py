"""The few functions a notebook user calls.

    from mmdoei.apis import init_model, inference_cams, show_cams
    model = init_model('configs/doei/mct_voc.py', 'doei-mct_voc.pth')
    result = inference_cams(model, 'demo.jpg')            # labels predicted if not given
    show_cams('demo.jpg', result, out_file='demo_cams.png')
"""
from pathlib import Path
from typing import Dict, Optional, Sequence, Union

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS, TRANSFORMS
from torch import nn

from mmdoei.cam.inference import cam_overlay, multiscale_cams
from mmdoei.utils import atomic_write
from mmdoei.utils.config import replace_entries
from mmdoei.utils.files import image_size
from mmdoei.utils.weights import load_weights
from .hub import is_model_name, model_info, resolve_model

ImageLike = Union[str, Path, np.ndarray]


def init_model(config: Union[str, Config], checkpoint: Optional[str] = None,
               device: str = 'cpu', partial: bool = False, **cfg_options) -> nn.Module:
    """Build a stage-1 classifier from a config (or a zoo model's name) and load its weights.

    ``cfg_options`` update ``model`` (e.g. ``doei=dict(...)`` to switch DOEI on
    for CAM extraction only). The backbone's pretrained ``init_cfg`` is dropped
    when a checkpoint is given (its weights are replaced anyway).

    The checkpoint (a path or URL, loaded with ``weights_only=True``) must fit
    the model: a checkpoint with missing, unexpected or mis-shaped tensors
    raises ``ValueError`` naming it, unless ``partial=True`` (then only the
    matching tensors are loaded; see :func:`mmdoei.utils.weights.load_weights`).
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
    model = MODELS.build(model_cfg)
    if checkpoint is not None:
        load_weights(model, checkpoint, partial=partial, flag='partial=True', map_location='cpu')
    else:
        model.init_weights()
    model.cfg = cfg
    return model.to(device).eval()


def get_model(name_or_config: Union[str, Config], pretrained: Union[bool, str] = False,
              device: str = 'cpu', partial: bool = False, **cfg_options) -> nn.Module:
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
        **cfg_options: Updates of ``model`` (e.g. ``doei=dict(...)``), as
            :func:`mmdoei.apis.init_model`.

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
        return init_model(cfg, checkpoint, device=device, partial=partial, **cfg_options)


def _load(model: nn.Module, img: ImageLike) -> Dict:
    """The image through the config's CAM pipeline (or a plain loader) and the preprocessor."""
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
    batch['bgr'] = data['inputs'].permute(1, 2, 0).numpy()
    return batch


@torch.no_grad()
def inference_cams(model: nn.Module, img: ImageLike, labels: Optional[Sequence[int]] = None,
                   scales: Sequence[float] = (1.0, ), flip: bool = True, thr: float = 0.5,
                   **cam_cfg) -> Dict:
    """CAMs of one image (a path, or a BGR uint8 array).

    Args:
        labels: 0-based classes to map; by default those the model predicts
            with score >= ``thr`` (the top one if none does).
        scales, flip: Multi-scale and flip, as in CAM generation.
        **cam_cfg: Overrides of the model's CAM settings.

    Returns:
        ``dict(labels, scores, cams)``: ``cams`` is ``(K, H, W)`` float32 in
        [0, 1] at the image's size; ``scores`` the sigmoid scores of all classes.
    """
    batch = _load(model, img)
    x = batch['inputs']
    scores = torch.sigmoid(model(x)[0])[0]
    if labels is None:
        labels = torch.where(scores >= thr)[0].tolist() or [int(scores.argmax())]
    cams = multiscale_cams(model, x, labels, scales, flip, **cam_cfg)
    return dict(labels=list(labels), scores=scores.numpy(), cams=cams.numpy(),
                image=np.ascontiguousarray(batch['bgr'][..., ::-1]))


def show_cams(img: ImageLike, result: Dict, out_file: Optional[str] = None,
              class_names: Optional[Sequence[str]] = None) -> np.ndarray:
    """One row of overlays (one per class) as an RGB array; saved if ``out_file``."""
    rgb = result.get('image')
    if rgb is None:
        rgb = cv2.imread(str(img))[..., ::-1] if not isinstance(img, np.ndarray) else img[..., ::-1]
    tiles = []
    for k, c in enumerate(result['labels']):
        tile = cam_overlay(rgb, result['cams'][k])
        name = class_names[c] if class_names else str(c)
        cv2.putText(tile, name, (2, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
        tiles.append(tile)
    row = np.concatenate([rgb] + tiles, axis=1)
    if out_file:
        ok, buf = cv2.imencode('.png', row[..., ::-1])
        with atomic_write(out_file) as f:
            f.write(buf.tobytes())
    return row
