"""Dense CRF (Kraehenbuehl and Koltun) with PSA's settings, via pydensecrf2."""
from typing import Optional

import numpy as np

#: PSA's ``tool/imutils.py:crf_inference`` settings.
PSA_CRF = dict(iterations=10, gaussian_sxy=3, gaussian_compat=3, bilateral_sxy=80, bilateral_srgb=13,
               bilateral_compat=10)


def dense_crf(img: np.ndarray,
              scores: np.ndarray,
              iterations: int = 10,
              gaussian_sxy: float = 3,
              gaussian_compat: float = 3,
              bilateral_sxy: float = 80,
              bilateral_srgb: float = 13,
              bilateral_compat: float = 10,
              scale_factor: float = 1.0,
              clip: Optional[float] = 1e-5) -> np.ndarray:
    """Refine per-class scores with a fully connected CRF, as PSA does.

    The unary is ``-log(clip(scores, 1e-5, 1))``: the scores are used as given,
    not renormalised (PSA passes ``[bg; cams]`` straight to
    ``unary_from_softmax``). Pairwise terms: a Gaussian kernel on position and
    a bilateral kernel on position and colour. The colour distance treats the
    three channels alike, so RGB and BGR images give the same result.

    Args:
        img: ``(H, W, 3)`` uint8 image.
        scores: ``(C, H, W)`` non-negative scores.
        iterations: Mean-field iterations (PSA: 10).
        gaussian_sxy, gaussian_compat, bilateral_sxy, bilateral_srgb,
            bilateral_compat: Kernel settings (PSA: 3, 3, 80, 13, 10).
        scale_factor: Divides both ``sxy`` (for down-scaled images).
        clip: Lower clip of the scores before the log.

    Returns:
        ``(C, H, W)`` float32 marginals (each pixel sums to 1).
    """
    try:
        import pydensecrf.densecrf as dcrf
    except ImportError as e:  # optional dependency (requirements/optional.txt)
        raise ImportError('dense CRF needs pydensecrf2: pip install pydensecrf2') from e
    img = np.ascontiguousarray(img, dtype=np.uint8)
    scores = np.asarray(scores, dtype=np.float32)
    if img.ndim != 3 or img.shape[2] != 3 or scores.ndim != 3 or scores.shape[1:] != img.shape[:2]:
        raise ValueError(f'need an (H, W, 3) image and (C, H, W) scores of the same size, got '
                         f'{img.shape} and {scores.shape}')
    c, h, w = scores.shape
    crf = dcrf.DenseCRF2D(w, h, c)
    probs = np.clip(scores, clip, 1.0) if clip is not None else scores
    crf.setUnaryEnergy(np.ascontiguousarray(-np.log(probs).reshape(c, -1), dtype=np.float32))
    crf.addPairwiseGaussian(sxy=gaussian_sxy / scale_factor, compat=gaussian_compat)
    crf.addPairwiseBilateral(sxy=bilateral_sxy / scale_factor, srgb=bilateral_srgb, rgbim=img,
                             compat=bilateral_compat)
    q = crf.inference(iterations)
    return np.asarray(q, dtype=np.float32).reshape(c, h, w)
