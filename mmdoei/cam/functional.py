"""CAM formulas of the stage-1 models, as plain functions (docs/method.md, "CAMs").

``attn_maps`` is the list of every block's head-averaged attention
``(B, T, T)`` with ``T = C + N`` (class tokens first); ``grid`` the patch grid
``(h, w)`` with ``N = h * w``.
"""
from typing import Sequence, Tuple

import torch.nn.functional as F
from torch import Tensor


def class_to_patch_attention(attn_maps: Sequence[Tensor], num_cls: int, last_n: int,
                             grid: Tuple[int, int]) -> Tensor:
    """``sum over the last n blocks of A[:, :C, C:]``, as ``(B, C, h, w)``.

    A sum, not a mean, as the MCTformer authors compute it; the scale does not
    matter after per-class min-max normalisation, but it does for the fused CAM
    before it.
    """
    if not 1 <= last_n <= len(attn_maps):
        raise ValueError(f'last_n must be in [1, {len(attn_maps)}], got {last_n}')
    A = _sum_of_blocks(attn_maps[-last_n:], slice(None, num_cls), slice(num_cls, None))
    return A.reshape(A.shape[0], num_cls, *grid)


def patch_affinity(attn_maps: Sequence[Tensor], num_cls: int) -> Tensor:
    """``sum over all blocks of A[:, C:, C:]``, ``(B, N, N)``, rows not renormalised."""
    return _sum_of_blocks(attn_maps, slice(num_cls, None), slice(num_cls, None))


def _sum_of_blocks(attn_maps: Sequence[Tensor], rows: slice, cols: slice) -> Tensor:
    """``sum over the maps of A[:, rows, cols]``, block after block into one buffer.

    Not ``torch.stack(maps).sum(0)``: the stack is a copy of every map (12 of
    ``(B, T, T)``, 250 MB for two 750 x 562 images), and it cost CAM generation
    a sixth of its time. The maps are added in the same order, one at a time.
    """
    maps = list(attn_maps)
    total = maps[0][:, rows, cols] + maps[1][:, rows, cols] if len(maps) > 1 else maps[0][:, rows, cols].clone()
    for m in maps[2:]:
        total += m[:, rows, cols]  # in place: no new buffer per block (autograd allows it: add keeps no inputs)
    return total


def refine_with_affinity(cams: Tensor, affinity: Tensor) -> Tensor:
    """``cam'[c, i] = sum_j aff[i, j] * cam[c, j]`` on the patch grid; ``cams`` ``(B, K, h, w)``."""
    B, K, h, w = cams.shape
    return (cams.flatten(2) @ affinity.transpose(1, 2)).reshape(B, K, h, w)


def resize_cams(cams: Tensor, size: Tuple[int, int]) -> Tensor:
    """Bilinear resize (``align_corners=False``), as every reference does."""
    if tuple(cams.shape[-2:]) == tuple(size):
        return cams
    return F.interpolate(cams, size=size, mode='bilinear', align_corners=False)
