"""AffinityNet's math as plain functions: pixel pairs within a radius, their
predicted affinities, their labels and the balanced affinity loss.

Pairs follow PSA (Ahn and Kwak, CVPR 2018) exactly, so that predicted
affinities, labels and transition matrices line up with theirs index for
index. For radius ``r`` the search offsets ``(dy, dx)`` are

* ``(0, x)`` for ``x = 1 .. r-1``, then
* ``(y, x)`` for ``y = 1 .. r-1``, ``x = -(r-1) .. r-1`` with ``x^2 + y^2 < r^2``,

(34 offsets for ``r = 5``), i.e. one half of the disc, so each unordered pair
appears once. A pair starts at a "from" pixel in rows ``0 .. h-r`` and columns
``r-1 .. w-r`` (the window where every offset stays inside the map) and ends
at ``from + (dy, dx)``. Arrays of pairs are laid out ``(..., num_offsets,
num_from)`` with the from pixels in row-major order.
"""
from typing import Dict, List, Tuple

import torch
from torch import Tensor

#: PSA's label value for pixels that are neither confident foreground nor
#: confident background.
IGNORE_INDEX = 255
#: Added inside the logs and to the pair counts, as PSA does.
EPS = 1e-5


def search_offsets(radius: int) -> List[Tuple[int, int]]:
    """The ``(dy, dx)`` offsets of pixel pairs within ``radius`` (see module doc)."""
    if radius < 2:
        raise ValueError(f'radius must be at least 2, got {radius}')
    offsets = [(0, x) for x in range(1, radius)]
    offsets += [(y, x) for y in range(1, radius) for x in range(-radius + 1, radius) if x * x + y * y < radius * radius]
    return offsets


def from_window(height: int, width: int, radius: int) -> Tuple[int, int]:
    """``(rows, cols)`` of the window of "from" pixels; ``(0, 0)`` when the map
    is too small for any pair (fewer than ``radius`` rows or ``2 radius - 1``
    columns)."""
    rows, cols = height - (radius - 1), width - 2 * (radius - 1)
    return (rows, cols) if rows > 0 and cols > 0 else (0, 0)


def _to_slices(height: int, width: int, radius: int, dy: int, dx: int) -> Tuple[slice, slice]:
    rows, cols = from_window(height, width, radius)
    return slice(dy, dy + rows), slice(radius - 1 + dx, radius - 1 + dx + cols)


def pair_indices(height: int, width: int, radius: int) -> Tuple[Tensor, Tensor]:
    """Flat pixel indices of the pairs.

    Returns:
        ``ind_from`` int64 ``(num_from,)`` and ``ind_to`` int64
        ``(num_offsets, num_from)``, indices into the row-major ``h * w`` map.
    """
    full = torch.arange(height * width, dtype=torch.long).view(height, width)
    rows, cols = from_window(height, width, radius)
    ind_from = full[:rows, radius - 1:radius - 1 + cols].reshape(-1)
    ind_to = [full[_to_slices(height, width, radius, dy, dx)].reshape(-1) for dy, dx in search_offsets(radius)]
    return ind_from, torch.stack(ind_to)


def gather_pairs(x: Tensor, radius: int) -> Tuple[Tensor, Tensor]:
    """Values at both ends of every pair, by slicing (no index tensors).

    Args:
        x: ``(..., h, w)``.

    Returns:
        ``(x_from (..., 1, num_from), x_to (..., num_offsets, num_from))``.
    """
    h, w = x.shape[-2:]
    rows, cols = from_window(h, w, radius)
    lead = x.shape[:-2]
    x_from = x[..., :rows, radius - 1:radius - 1 + cols].reshape(*lead, 1, rows * cols)
    x_to = [x[(..., ) + _to_slices(h, w, radius, dy, dx)].reshape(*lead, rows * cols)
            for dy, dx in search_offsets(radius)]
    return x_from, torch.stack(x_to, dim=-2)


def pair_affinities(feats: Tensor, radius: int) -> Tensor:
    """Predicted affinities ``exp(-mean_c |f_i - f_j|)`` of all pairs.

    Args:
        feats: ``(B, C, h, w)`` AffinityNet features.

    Returns:
        ``(B, num_offsets, num_from)``, values in ``(0, 1]``.
    """
    # (B, C, 1, n) against (B, C, k, n): mean over channels.
    f_from, f_to = gather_pairs(feats, radius)
    return torch.exp(-torch.mean(torch.abs(f_to - f_from), dim=1))


def pair_labels(label: Tensor, radius: int, ignore_index: int = IGNORE_INDEX) -> Tuple[Tensor, Tensor, Tensor]:
    """Affinity labels of the pairs from a label map (PSA's rules).

    With ``a``, ``b`` the labels at the two ends of a pair, ``0`` background
    and ``ignore_index`` unknown:

    * background-positive: ``a == b == 0``;
    * foreground-positive: ``a == b``, neither 0 nor ``ignore_index``;
    * negative: ``a != b``, neither ``ignore_index``.

    Every other pair (one end unknown) is in none of the three sets.

    Args:
        label: ``(..., h, w)`` integer label map (values 0, class ids,
            ``ignore_index``).

    Returns:
        Boolean ``(bg_pos, fg_pos, neg)``, each ``(..., num_offsets, num_from)``.
    """
    a, b = gather_pairs(label, radius)
    valid = (a != ignore_index) & (b != ignore_index)
    same = a == b
    bg_pos = same & (a == 0)
    fg_pos = same & (a != 0) & valid
    neg = ~same & valid
    return bg_pos, fg_pos, neg


def affinity_loss(aff: Tensor, label: Tensor, radius: int,
                  ignore_index: int = IGNORE_INDEX) -> Dict[str, Tensor]:
    """PSA's balanced affinity loss.

    Cross-entropy of the affinities on each pair set, each averaged over its
    own pairs (summed over the whole batch), then weighted
    ``bg / 4 + fg / 4 + neg / 2``::

        bg  = sum(-log(aff + eps)     over bg_pos) / (|bg_pos| + eps)
        fg  = sum(-log(aff + eps)     over fg_pos) / (|fg_pos| + eps)
        neg = sum(-log(1 + eps - aff) over neg)    / (|neg| + eps)

    Args:
        aff: ``(B, num_offsets, num_from)`` predicted affinities.
        label: ``(B, h, w)`` label maps at the feature resolution.

    Returns:
        ``loss_bg`` (= bg/4), ``loss_fg`` (= fg/4), ``loss_neg`` (= neg/2),
        whose sum is the loss, and the pair counts ``bg_count``, ``fg_count``,
        ``neg_count`` (for logging).
    """
    bg_pos, fg_pos, neg = pair_labels(label, radius, ignore_index)
    if bg_pos.shape != aff.shape:
        raise ValueError(f'label map gives pairs {tuple(bg_pos.shape)} but the affinities are '
                         f'{tuple(aff.shape)}: the label must be at the feature resolution')
    bg_pos, fg_pos, neg = (m.to(aff.dtype) for m in (bg_pos, fg_pos, neg))
    pos_nll = -torch.log(aff + EPS)
    bg_count, fg_count, neg_count = bg_pos.sum() + EPS, fg_pos.sum() + EPS, neg.sum() + EPS
    bg = (bg_pos * pos_nll).sum() / bg_count
    fg = (fg_pos * pos_nll).sum() / fg_count
    ng = (neg * -torch.log(1. + EPS - aff)).sum() / neg_count
    return dict(loss_bg=bg / 4, loss_fg=fg / 4, loss_neg=ng / 2, bg_count=bg_count.detach(),
                fg_count=fg_count.detach(), neg_count=neg_count.detach())
