"""Multi-scale + flip CAMs of one image, and their overlays.

The CAM files they go to are :mod:`mmdoei.cam.io`'s.
"""
from pathlib import Path
from typing import Optional, Sequence, Union

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdoei.utils.io import atomic_write
from .functional import resize_cams
from .seeds import minmax_normalise

#: The MCTformer authors' epsilon of the min-max normalisation of generated CAMs.
CAM_EPS = 1e-8


@torch.no_grad()
def multiscale_cams(model: nn.Module, img: Tensor, labels: Sequence[int],
                    scales: Sequence[float] = (1.0, ), flip: bool = True, **cam_cfg) -> Tensor:
    """CAMs of one preprocessed image summed over scales and flips, for its labels.

    As the MCTformer authors do: resize the image, compute CAMs, resize them
    back bilinearly, flip back, sum; then keep the labelled classes and min-max
    normalise each map. The image is resized bicubically with antialiasing,
    the closest tensor counterpart of their PIL resize.

    Args:
        model: A :class:`~mmdoei.models.WSSSClassifier` (anything with ``cams``).
        img: ``(1, 3, H, W)``, already normalised by the data preprocessor.
        labels: 0-based foreground classes of the image.
        scales: Image scale factors.
        flip: Also use the horizontally flipped image at every scale.
        **cam_cfg: Passed to ``model.cams`` (type, last_n, refine, ...).

    Returns:
        ``(K, H, W)`` float32 in [0, 1], ``K = len(labels)``.
    """
    if img.dim() != 4 or img.shape[0] != 1:
        raise ValueError(f'multiscale_cams takes one image (1, 3, H, W), got {tuple(img.shape)}')
    H, W = img.shape[-2:]
    labels = torch.as_tensor(list(labels), dtype=torch.long, device=img.device)
    total = None
    for s in scales:
        size = (max(1, round(H * s)), max(1, round(W * s)))
        x = img if size == (H, W) else F.interpolate(img, size=size, mode='bicubic',
                                                     align_corners=False, antialias=True)
        for flipped in ((False, True) if flip else (False, )):
            xi = x.flip(-1) if flipped else x
            cams = model.cams(xi, **cam_cfg)[:, labels].float()
            cams = resize_cams(cams, (H, W))
            cams = cams.flip(-1) if flipped else cams
            total = cams if total is None else total + cams
    return minmax_normalise(total[0], eps=CAM_EPS)


def cam_overlay(image_rgb: np.ndarray, cam: np.ndarray, weight: float = 0.5) -> np.ndarray:
    """A jet-coloured CAM blended on its image, both ``(H, W)``-sized; RGB uint8 out."""
    heat = cv2.applyColorMap(np.uint8(255 * np.clip(cam, 0, 1)), cv2.COLORMAP_JET)[..., ::-1]
    return np.uint8((1 - weight) * image_rgb + weight * heat)


def save_overlays(out_dir: Union[str, Path], img_id: str, image_rgb: np.ndarray,
                  labels: Sequence[int], cams: np.ndarray,
                  class_names: Optional[Sequence[str]] = None) -> None:
    """Write ``{img_id}_{class}.png`` overlays, one per labelled class, atomically."""
    for k, c in enumerate(labels):
        name = class_names[c] if class_names is not None else str(c)
        ok, buf = cv2.imencode('.png', cam_overlay(image_rgb, cams[k].astype(np.float32))[..., ::-1])
        if not ok:
            raise RuntimeError(f'could not encode the overlay of {img_id} / {name}')
        with atomic_write(Path(out_dir) / f'{img_id}_{name}.png') as f:
            f.write(buf.tobytes())
