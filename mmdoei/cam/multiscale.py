"""Multi-scale + flip CAMs of one image (the passes of a CAM protocol), the named
CAM protocols, and the CAMs' overlays.

The CAM files they go to are :mod:`mmdoei.cam.io`'s. The passes, resizing and
normalisation follow each baseline's authors (:data:`CAM_PROTOCOLS`, the
configs' ``cam_gen``; docs/protocol.md lists the sources): each stage-1
classifier class declares its own (``cam_protocol``), found through the
``MODELS`` registry when a protocol is looked up, so this layer imports no model.
"""
import contextlib
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from mmdoei.utils.config import AMP_CPU_MESSAGE
from mmdoei.utils.registry import DeclaredTable, declarations
from .functional import resize_cams
from .render import CAMRenderer, overlay, save_png
from .seeds import minmax_normalise

#: The MCTformer authors' epsilon of the min-max normalisation of generated CAMs.
CAM_EPS = 1e-8


#: The named CAM protocols that are no classifier's: ``ms5`` is the DOEI paper's
#: 5-scale + flip *segmentation* test protocol, kept as an option for CAMs
#: (``--cam-protocol ms5``).
NAMED_PROTOCOLS: Dict[str, dict] = {
    'ms5': dict(scales=(0.5, 0.75, 1.0, 1.25, 1.5), sizes=None, flip=True, interpolation='bicubic',
                norm='minmax'),
}


class CAMProtocols(DeclaredTable):
    """Named CAM protocols (``cam_gen = dict(protocol=name)``, ``--cam-protocol name``):
    :data:`NAMED_PROTOCOLS` and the ``cam_protocol = (name, settings)`` every
    classifier class in the ``MODELS`` registries declares (each its authors'
    scripts': MCTformer's ``mctformer``, TS-CAM's ``tscam``, TransCAM's
    ``transcam``), read at every lookup, so a classifier registered later (a
    new baseline, a user's class) is found by name without editing mmdoei.
    A lookup gives a copy of the settings.

    Raises:
        ValueError: on lookup, when two classes declare one name differently, or
            a class declares a name of :data:`NAMED_PROTOCOLS`.
    """

    what = 'CAM protocol'

    def table(self) -> Dict[str, dict]:
        """``{name: settings}`` of every named protocol, as it is now."""
        table = {name: dict(settings) for name, settings in NAMED_PROTOCOLS.items()}
        for name, (settings, cls) in declarations('MODELS', 'cam_protocol').items():
            if name in table:
                raise ValueError(f'{cls.__module__}.{cls.__qualname__} declares the CAM protocol {name!r}, a name '
                                 'of mmdoei.cam.multiscale.NAMED_PROTOCOLS; give it another name')
            table[name] = dict(settings)
        return table


#: The named CAM protocols (see :class:`CAMProtocols`).
CAM_PROTOCOLS = CAMProtocols()
_PIL_FILTERS = {'bicubic': Image.BICUBIC, 'bilinear': Image.BILINEAR}


def pil_resize(img: np.ndarray, size: Tuple[int, int], interpolation: str = 'bicubic') -> np.ndarray:
    """An ``(H, W, 3)`` uint8 image resized to ``size = (h, w)`` with PIL, as the authors'
    datasets do before ``ToTensor`` and ``Normalize``.

    PIL rather than mmcv or torch: their bicubic kernels differ from PIL's
    (mmcv's cv2 has no antialiasing, torch's works on floats before rounding),
    and the CAMs follow the inputs to a few 1e-3 at scales other than 1.
    """
    if interpolation not in _PIL_FILTERS:
        raise ValueError(f'interpolation must be one of {sorted(_PIL_FILTERS)}, got {interpolation!r}')
    if tuple(img.shape[:2]) == tuple(size):
        return img
    return np.asarray(Image.fromarray(img).resize((size[1], size[0]), resample=_PIL_FILTERS[interpolation]))


def pass_sizes(hw: Tuple[int, int], scales: Optional[Sequence[float]] = None,
               sizes: Optional[Sequence[Sequence[int]]] = None) -> List[Tuple[int, int]]:
    """The ``(h, w)`` of every pass: ``round(side * s)`` per scale (Python's rounding,
    as the authors' ``round``), or the fixed ``sizes`` (aspect not kept)."""
    if sizes:
        out = [(int(h), int(w)) for h, w in sizes]
    elif scales:
        out = [(max(1, round(hw[0] * s)), max(1, round(hw[1] * s))) for s in scales]
    else:
        raise ValueError('a CAM protocol needs scales or sizes')
    if any(h <= 0 or w <= 0 for h, w in out):
        raise ValueError(f'CAM pass sizes must be positive, got {out}')
    return out


def normalise_cam_sum(total: Tensor, norm: str = 'minmax') -> Tensor:
    """Normalise the summed ``(K, H, W)`` maps of the labelled classes.

    ``'minmax'``: ``(a - min) / (max - min + 1e-8)`` per map (MCTformer, TS-CAM).
    ``'clamp_sum'``: TransCAM's ``infer_TransCAM.py``: clamp the *sum* at zero,
    zero what is below ``min + 1e-5``, then ``(a - min - 1e-5) / (max - min + 1e-5)``
    (so zeroed pixels come out below 0, as theirs do: ``-1e-5 / (max - min + 1e-5)``
    when the minimum is 0, ``-(min + 1e-5) / (max - min + 1e-5)`` when the clamped
    sum is positive everywhere). CAM files store these clipped at 0
    (:class:`~mmdoei.cam.CAMGenerationLoop`): the same seeds for any background
    threshold >= 0, and stage 2 reads [0, 1] maps.
    """
    if norm == 'minmax':
        return minmax_normalise(total, eps=CAM_EPS)
    if norm == 'clamp_sum':
        total = total.clamp(min=0)
        lo = total.flatten(-2).min(-1).values[..., None, None]
        hi = total.flatten(-2).max(-1).values[..., None, None]
        total = torch.where(total < lo + 1e-5, torch.zeros_like(total), total)
        return (total - lo - 1e-5) / (hi - lo + 1e-5)
    raise ValueError(f"norm must be 'minmax' or 'clamp_sum', got {norm!r}")


def _normalised_inputs(model: nn.Module, img: Tensor, sizes: Sequence[Tuple[int, int]],
                       interpolation: str) -> List[Tensor]:
    """``img`` (``(3, H, W)`` uint8, channels as loaded) resized with PIL to every size,
    then normalised by the model's data preprocessor (mean, std, channel order)."""
    hwc = np.ascontiguousarray(img.permute(1, 2, 0).cpu().numpy())
    out = []
    for size in sizes:
        resized = torch.from_numpy(pil_resize(hwc, size, interpolation).copy())
        out.append(model.data_preprocessor(dict(inputs=[resized.permute(2, 0, 1)]), False)['inputs'])
    return out


@torch.no_grad()
def multiscale_cams(model: nn.Module, img: Tensor, labels: Sequence[int],
                    scales: Optional[Sequence[float]] = (1.0, ), flip: bool = True,
                    sizes: Optional[Sequence[Sequence[int]]] = None, interpolation: str = 'bicubic',
                    norm: str = 'minmax', batch_flip: bool = True, amp: bool = False,
                    **cam_cfg) -> Tensor:
    """CAMs of one image summed over passes (scales or sizes, and flips), for its labels.

    As the baselines' authors do: resize the image, compute CAMs, resize them
    back bilinearly to the image's size, flip back, sum over the passes; then
    keep the labelled classes and normalise (``norm``). The named settings of
    each baseline are :data:`CAM_PROTOCOLS`.

    Args:
        model: A :class:`~mmdoei.models.WSSSClassifier` (anything with ``cams``
            and a ``data_preprocessor``).
        img: The image as loaded, ``(3, H, W)`` or ``(1, 3, H, W)`` **uint8**
            (the authors' protocol: PIL resize of the 8-bit image, then the
            data preprocessor normalises), or a float ``(1, 3, H, W)`` that is
            already normalised (then resized as a tensor, bicubic with
            antialiasing: close to, not equal to, the authors).
        labels: 0-based foreground classes of the image.
        scales: Image scale factors; or ``sizes``: fixed ``(h, w)`` pass sizes.
        flip: Also use the horizontally flipped image at every scale.
        interpolation: PIL filter of the image resize (``'bicubic'``, ``'bilinear'``).
        norm: ``'minmax'`` or ``'clamp_sum'``, see :func:`normalise_cam_sum`.
        batch_flip: Run each image and its flip as one batch of two (faster on
            the CPU; the same maps up to float rounding).
        amp: Under CUDA autocast (fp16), as the MCTformer authors; GPU only.
        **cam_cfg: Passed to ``model.cams`` (type, last_n, refine, ...).

    Returns:
        ``(K, H, W)`` float32, ``K = len(labels)``, in [0, 1] (``clamp_sum``:
        some pixels below 0, see :func:`normalise_cam_sum`).
    """
    if img.dim() == 4:
        if img.shape[0] != 1:
            raise ValueError(f'multiscale_cams takes one image (1, 3, H, W), got {tuple(img.shape)}')
        img = img[0]
    if img.dim() != 3:
        raise ValueError(f'multiscale_cams takes one image (3, H, W), got {tuple(img.shape)}')
    if amp and img.device.type != 'cuda':
        raise ValueError(AMP_CPU_MESSAGE)
    H, W = img.shape[-2:]
    sizes_ = pass_sizes((H, W), scales, sizes)
    if img.dtype == torch.uint8:
        inputs = _normalised_inputs(model, img, sizes_, interpolation)
    else:
        x = img[None]
        inputs = [x if size == (H, W) else F.interpolate(x, size=size, mode='bicubic', align_corners=False,
                                                         antialias=True) for size in sizes_]
    labels = torch.as_tensor(list(labels), dtype=torch.long, device=img.device)
    total = None
    with torch.autocast('cuda') if amp else contextlib.nullcontext():
        for x in inputs:
            if flip and batch_flip:
                cams = model.cams(torch.cat([x, x.flip(-1)]), **cam_cfg)[:, labels].float()
                cams = resize_cams(cams, (H, W))
                cams = cams[:1] + cams[1:].flip(-1)
            else:
                cams = resize_cams(model.cams(x, **cam_cfg)[:, labels].float(), (H, W))
                if flip:
                    cams = cams + resize_cams(model.cams(x.flip(-1), **cam_cfg)[:, labels].float(),
                                              (H, W)).flip(-1)
            total = cams if total is None else total + cams
    return normalise_cam_sum(total[0].float(), norm)


def protocol_cams(model: nn.Module, img: Tensor, labels: Sequence[int],
                  scales: Optional[Sequence[float]] = (1.0, ), flip: bool = True,
                  sizes: Optional[Sequence[Sequence[int]]] = None, interpolation: str = 'bicubic',
                  norm: str = 'minmax', amp: bool = False, **cam_cfg) -> Tensor:
    """The CAMs a CAM file holds: :func:`multiscale_cams` and the protocol's last step.

    The one function behind ``tools/test.py --cam-out`` (``CAMGenerationLoop``),
    :func:`mmdoei.apis.inference_cams` and ``CAMInferencer``, so they give the
    same maps: ``clamp_sum`` (TransCAM) clamps the normalised sum at 0, as the
    authors' below-zero pixels lose to any background. ``img`` should be the
    **uint8** image as loaded (PIL resize of every pass).

    Returns:
        ``(K, H, W)`` float32 in [0, 1].
    """
    cams = multiscale_cams(model, img, labels, scales, flip, sizes=sizes, interpolation=interpolation,
                           norm=norm, amp=amp, **cam_cfg)
    return cams.clamp(min=0) if norm == 'clamp_sum' else cams


def cam_overlay(image_rgb: np.ndarray, cam: np.ndarray, weight: float = 0.5) -> np.ndarray:
    """A jet-coloured CAM blended on its image, both ``(H, W)``-sized; RGB uint8 out
    (:func:`mmdoei.cam.render.overlay`)."""
    return overlay(image_rgb, cam, weight)


_OVERLAY_RENDERER: Optional[CAMRenderer] = None


def save_overlays(out_dir: Union[str, Path], img_id: str, image_rgb: np.ndarray,
                  labels: Sequence[int], cams: np.ndarray,
                  class_names: Optional[Sequence[str]] = None) -> None:
    """Write ``{img_id}_{class}.png``, one per labelled class, atomically: the image and its
    CAM overlay side by side, captioned with the image id and class name, with the colour bar
    (:meth:`mmdoei.cam.render.CAMRenderer.render_overlay`)."""
    global _OVERLAY_RENDERER
    if _OVERLAY_RENDERER is None:  # one Visualizer for the whole run
        _OVERLAY_RENDERER = CAMRenderer(name='mmdoei_overlays')
    for k, c in enumerate(labels):
        name = class_names[c] if class_names is not None else str(c)
        tile = _OVERLAY_RENDERER.render_overlay(image_rgb, cams[k].astype(np.float32), f'{img_id}: {name}')
        save_png(Path(out_dir) / f'{img_id}_{name}.png', tile)
