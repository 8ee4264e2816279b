"""Data transforms for the segmentation stage (registered in mmseg's ``TRANSFORMS``)."""
from typing import Tuple

import numpy as np
from mmcv.transforms import BaseTransform, Resize
from mmcv.transforms.utils import cache_randomness
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomRescale(BaseTransform):
    """Rescale the image (and its seg maps) by a random factor of its own size.

    MCTformer's DeepLab training (``seg/tool/exutils.py``) scales every
    image by ``U(0.7, 1.3)`` before flip and crop. mmcv's ``RandomResize``
    samples a size around a fixed target scale instead, which for images of
    varying size is a different distribution. The resizing itself is mmcv's
    ``Resize`` (bilinear image, nearest seg maps; ``img_shape`` and
    ``scale_factor`` updated).

    Args:
        ratio_range: ``(low, high)`` of the uniform factor.
        interpolation: Image interpolation of ``Resize``.
        backend: Resize backend (``'cv2'`` or ``'pillow'``).
    """

    def __init__(self, ratio_range: Tuple[float, float] = (0.7, 1.3), interpolation: str = 'bilinear',
                 backend: str = 'cv2') -> None:
        low, high = (float(r) for r in ratio_range)
        if not 0 < low <= high:
            raise ValueError(f'ratio_range must be (low, high) with 0 < low <= high, got {ratio_range}')
        self.ratio_range = (low, high)
        self.interpolation = interpolation
        self.backend = backend

    @cache_randomness
    def _random_ratio(self) -> float:
        return float(np.random.uniform(*self.ratio_range))

    def transform(self, results: dict) -> dict:
        """Resize ``img`` and ``gt_seg_map`` by one random factor.

        Each side keeps at least one pixel: a factor below 1 on a tiny image
        would otherwise ask OpenCV for an empty image, which it refuses.
        """
        ratio = self._random_ratio()
        h, w = results['img'].shape[:2]
        size = (max(1, int(w * ratio + 0.5)), max(1, int(h * ratio + 0.5)))
        resize = Resize(scale=size, keep_ratio=False, interpolation=self.interpolation, backend=self.backend)
        return resize(results)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(ratio_range={self.ratio_range}, interpolation={self.interpolation!r})'


__all__ = ['RandomRescale']
