"""Random walk of CAM scores with AffinityNet's transition matrix (PSA, sec. 3.3).

With ``a_ij`` the predicted affinity of pixels ``i, j`` (pairs within the
radius, see :mod:`.functional`) PSA builds the symmetric matrix
``A = [a_ij ** beta]`` with ones on the diagonal, the column-normalised
transition matrix ``T = A D^-1`` (``D`` = column sums) and the refined scores
``v T^t`` for each class row ``v`` of the down-scaled CAM, ``t = 2 ** logt``.
Its code gets ``T^t`` by squaring the dense ``N x N`` matrix ``logt`` times:
``O(N^3 logt)`` work and ``N^2`` memory (``N`` = pixels of the stride-8 map,
about 3,000 for a VOC image).

:func:`random_walk` computes the same vector with ``t`` products of the sparse
``T`` (about 70 non-zeros a row) with the ``(N, C)`` score matrix:
``O(70 N C t)`` work. :func:`random_walk_dense` is PSA's procedure, kept as
the reference for tests and the benchmark.
"""
import warnings
from contextlib import contextmanager
from functools import lru_cache
from typing import Iterator, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .functional import from_window, pair_indices, search_offsets


@lru_cache(maxsize=32)
def _symmetric_pattern(height: int, width: int, radius: int) -> Tuple[Tensor, Tensor, Tensor]:
    """Row/column indices of ``A``'s entries: pairs both ways, then the diagonal,
    and the CSR order that sorts them (cached per map size)."""
    ind_from, ind_to = pair_indices(height, width, radius)
    n = height * width
    src = ind_from.expand_as(ind_to).reshape(-1)
    dst = ind_to.reshape(-1)
    diag = torch.arange(n)
    rows = torch.cat([src, dst, diag])
    cols = torch.cat([dst, src, diag])
    # Pairs are unique and one-directional (half disc), so no entry repeats.
    order = torch.argsort(rows * n + cols)
    return rows, cols, order


def _check(aff: Tensor, height: int, width: int, radius: int) -> None:
    rows, cols = from_window(height, width, radius)
    expected = (len(search_offsets(radius)), rows * cols)
    if tuple(aff.shape) != expected:
        raise ValueError(f'affinities {tuple(aff.shape)} do not fit a {height}x{width} map with radius '
                         f'{radius} (expected {expected})')


def sparse_transition(aff: Tensor, height: int, width: int, radius: int, beta: float = 8) -> Tensor:
    """``T^T`` (rows = destinations) as a sparse CSR ``(N, N)`` tensor.

    ``T^T = D^-1 A`` because ``A`` is symmetric: row ``j`` holds
    ``a_ij^beta / d_j``. Then ``(v T)^T = T^T v^T``: one sparse product per
    step of the walk.

    Args:
        aff: ``(num_offsets, num_from)`` predicted affinities of one image.
        height, width: The feature map's size.
        radius: Pair radius used to predict ``aff``.
        beta: Power applied to the affinities (PSA: 8).
    """
    _check(aff, height, width, radius)
    rows, cols, order = _symmetric_pattern(height, width, radius)
    n = height * width
    a = aff.reshape(-1) ** beta
    vals = torch.cat([a, a, torch.ones(n, dtype=aff.dtype, device=aff.device)])
    rows, cols, order = rows.to(aff.device), cols.to(aff.device), order.to(aff.device)
    deg = torch.zeros(n, dtype=aff.dtype, device=aff.device).index_add_(0, rows, vals)
    vals = vals / deg[rows]
    rows, cols, vals = rows[order], cols[order], vals[order]
    crow = torch.zeros(n + 1, dtype=torch.long, device=aff.device)
    crow[1:] = torch.cumsum(torch.bincount(rows, minlength=n), 0)
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='Sparse CSR tensor support is in beta')
        return torch.sparse_csr_tensor(crow, cols, vals, (n, n), check_invariants=False)


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch ops on one intra-op thread, then restore the setting.

    One product is ~10^6 multiply-adds, too little to share: on an idle
    2-core machine two threads saved a third of the time, but on a busy one
    each product waited for a descheduled OpenMP thread and the 256 products
    of a VOC-sized walk took 7 s instead of 0.07 s (measured).
    """
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def random_walk(aff: Tensor, scores: Tensor, radius: int, beta: float = 8, logt: int = 8) -> Tensor:
    """Propagate ``scores`` with ``2 ** logt`` steps of the sparse walk.

    Args:
        aff: ``(num_offsets, num_from)`` affinities of one image.
        scores: ``(C, h, w)`` down-scaled scores (background first).
        radius, beta, logt: PSA's ``5``, ``8``, ``8`` (MCTformer: logt ``6``).

    Returns:
        ``(C, h, w)``: each row ``v`` becomes ``v T^(2^logt)``.
    """
    c, h, w = scores.shape
    trans_t = sparse_transition(aff, h, w, radius, beta)
    v = scores.reshape(c, h * w).t().contiguous().to(aff.dtype)
    with _one_thread():
        for _ in range(2**logt):
            v = trans_t @ v
    return v.t().reshape(c, h, w)


def dense_affinity_matrix(aff: Tensor, height: int, width: int, radius: int) -> Tensor:
    """PSA's dense ``(N, N)`` affinity matrix: ``a`` at (from, to) and (to, from),
    ones on the diagonal, zeros elsewhere (reference only: ``N^2`` memory)."""
    _check(aff, height, width, radius)
    n = height * width
    ind_from, ind_to = pair_indices(height, width, radius)
    src = ind_from.expand_as(ind_to).reshape(-1).to(aff.device)
    dst = ind_to.reshape(-1).to(aff.device)
    mat = torch.zeros(n, n, dtype=aff.dtype, device=aff.device)
    mat[src, dst] = aff.reshape(-1)
    mat[dst, src] = aff.reshape(-1)
    mat.diagonal().fill_(1)
    return mat


def random_walk_dense(aff: Tensor, scores: Tensor, radius: int, beta: float = 8, logt: int = 8) -> Tensor:
    """PSA's procedure: ``T = A^beta / colsum``, square ``T`` ``logt`` times,
    then ``v T`` (reference for tests and the benchmark)."""
    c, h, w = scores.shape
    mat = dense_affinity_matrix(aff, h, w, radius) ** beta
    trans = mat / mat.sum(dim=0, keepdim=True)
    for _ in range(logt):
        trans = trans @ trans
    return (scores.reshape(c, h * w).to(trans.dtype) @ trans).reshape(c, h, w)


def walk_scores(cams: Tensor, pad_shape: Sequence[int], stride: int = 8, alpha: float = 16,
                bg_threshold: Optional[float] = None) -> Tensor:
    """The walk's input from an image's CAMs, as PSA's ``infer_aff.py`` makes it.

    A background map is put in front of the class maps, all are zero-padded
    (right and bottom) to the padded image size and average-pooled by the
    network's stride.

    Args:
        cams: ``(K, H, W)`` class maps in ``[0, 1]`` at the image size.
        pad_shape: ``(Hp, Wp)``, the padded input size, multiples of ``stride``.
        stride: Output stride of the network (8).
        alpha: PSA's background ``(1 - max_k cam_k) ** alpha`` (PSA: 16).
        bg_threshold: If given, a constant background score instead
            (MCTformer's ``--bg_thr``, e.g. 0.39).

    Returns:
        ``(K + 1, Hp / stride, Wp / stride)`` float32.
    """
    k, h, w = cams.shape
    hp, wp = (int(s) for s in pad_shape)
    if hp % stride or wp % stride or hp < h or wp < w:
        raise ValueError(f'pad shape {(hp, wp)} must cover the image {(h, w)} in multiples of {stride}')
    cams = cams.float()
    if bg_threshold is not None:
        bg = torch.full((1, h, w), float(bg_threshold), dtype=cams.dtype, device=cams.device)
    else:
        top = cams.max(dim=0, keepdim=True)[0] if k else torch.zeros(1, h, w, device=cams.device)
        bg = (1 - top)**alpha
    full = F.pad(torch.cat([bg, cams]), (0, wp - w, 0, hp - h))
    return F.avg_pool2d(full[None], stride, stride)[0]


def scores_to_labels(scores: Tensor, pad_shape: Sequence[int], ori_shape: Sequence[int]) -> Tensor:
    """Up-sample walked scores to the padded size (bilinear, as PSA), take the
    arg-max channel and crop to the image.

    Returns:
        int64 ``(H, W)`` channel indices (0 = background).
    """
    up = F.interpolate(scores[None].float(), size=tuple(int(s) for s in pad_shape), mode='bilinear',
                       align_corners=False)[0]
    h, w = (int(s) for s in ori_shape)
    return up.argmax(dim=0)[:h, :w]


def random_walk_labels(aff: Tensor,
                       feat_shape: Sequence[int],
                       cams: Tensor,
                       class_ids: Sequence[int],
                       radius: int = 5,
                       beta: float = 8,
                       logt: int = 8,
                       alpha: float = 16,
                       bg_threshold: Optional[float] = None,
                       stride: int = 8,
                       dense: bool = False) -> Tensor:
    """Pseudo mask of one image: CAM -> walk -> label values.

    Args:
        aff: ``(num_offsets, num_from)`` affinities on the ``feat_shape`` map.
        feat_shape: ``(h, w)`` of the feature map; the padded image is
            ``(h * stride, w * stride)``.
        cams: ``(K, H, W)`` class maps at the image size, in ``[0, 1]``.
        class_ids: The K 0-based class ids of the maps.
        radius, beta, logt, alpha, bg_threshold, stride: see above.
        dense: Use PSA's dense squaring (reference) instead of the sparse walk.

    Returns:
        int64 ``(H, W)``: 0 for background, ``class_id + 1`` elsewhere.

    Only the image's own classes are walked. PSA walks all 21 rows, but the
    others are zero, stay zero, and can never win the arg-max against the
    non-negative background row, so the labels are the same.
    """
    class_ids = torch.as_tensor(list(class_ids), dtype=torch.long)
    if cams.shape[0] != class_ids.numel():
        raise ValueError(f'{cams.shape[0]} CAM maps but {class_ids.numel()} class ids')
    order = torch.argsort(class_ids)  # ties between classes go to the lower id, as in PSA
    cams, class_ids = cams[order], class_ids[order]
    h, w = (int(s) for s in feat_shape)
    pad_shape = (h * stride, w * stride)
    scores = walk_scores(cams, pad_shape, stride, alpha, bg_threshold)
    walk = random_walk_dense if dense else random_walk
    walked = walk(aff, scores.to(aff.device, aff.dtype), radius, beta, logt)
    channel = scores_to_labels(walked, pad_shape, cams.shape[-2:])
    values = torch.cat([torch.zeros(1, dtype=torch.long), class_ids + 1]).to(channel.device)
    return values[channel]
