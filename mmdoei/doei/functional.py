"""The DOEI operator as plain functions, line by line against docs/method.md.

Shapes follow the spec: ``B`` images, ``C`` class tokens (first), ``N`` patch
tokens, ``D`` channels; ``attn`` is a block's softmax attention averaged over
heads, ``(B, C + N, C + N)``, rows are queries and columns keys.

Everything here is stateless and differentiable where the spec says so (the
scores); the candidate masks come from ``topk`` and carry no gradient.
"""
import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def doei_scores(attn: Tensor, num_cls: int) -> Tuple[Tensor, Tensor]:
    """Patch<->class and class<->class scores (spec eqs. 7 and 12).

    Args:
        attn: Head-averaged attention ``(B, C + N, C + N)``.
        num_cls: ``C``, the number of class tokens at the front.

    Returns:
        ``P`` of shape ``(B, C, N)``: ``A[:, :C, C:] + A[:, C:, :C]^T``;
        ``S`` of shape ``(B, C, C)``: ``A[:, :C, :C] + A[:, :C, :C]^T``.
    """
    C = num_cls
    P = attn[:, :C, C:] + attn[:, C:, :C].transpose(1, 2)
    S = attn[:, :C, :C] + attn[:, :C, :C].transpose(1, 2)
    return P, S


def hfa_affinity(img: Tensor, patch_tokens: Tensor, grid: Tuple[int, int],
                 eps: float = 1e-6) -> Tensor:
    """Hybrid Feature Alignment affinity ``H`` (spec eq. 17), ``(B, N, N)``.

    ``H = rownorm(relu(cos(r_j, r_k)) * relu(cos(e_j, e_k)))`` where ``r`` is
    each patch's mean colour, standardised per image and channel over that
    image's patches (raw colours are all positive, so their cosines would all be
    near 1 and carry no information), and ``e`` the patch embeddings before
    position embeddings.

    Args:
        img: The network input ``(B, 3, H, W)``.
        patch_tokens: ``e``, ``(B, N, D)``, with ``N = grid[0] * grid[1]``.
        grid: The patch grid ``(h, w)`` the embedding produced.
        eps: Guards the normalisations of a constant image or a zero row.
    """
    r = F.adaptive_avg_pool2d(img.float(), grid).flatten(2).transpose(1, 2)  # (B, N, 3)
    r = (r - r.mean(dim=1, keepdim=True)) / (r.std(dim=1, keepdim=True, unbiased=False) + eps)
    r = F.normalize(r, dim=-1, eps=eps)
    e = F.normalize(patch_tokens.float(), dim=-1, eps=eps)
    affinity = (r @ r.transpose(1, 2)).relu() * (e @ e.transpose(1, 2)).relu()
    affinity = affinity / affinity.sum(dim=-1, keepdim=True).clamp_min(eps)
    return affinity.to(patch_tokens.dtype)


def hfa_blend(P: Tensor, H: Optional[Tensor], alpha: float) -> Tensor:
    """``P_hfa = (1 - alpha) * P + alpha * (P @ H^T)``; ``alpha = 0`` returns ``P`` itself."""
    if H is None or alpha == 0:
        return P
    return (1 - alpha) * P + alpha * (P @ H.transpose(1, 2))


def num_confident(block: int, depth: int, total: int, st: float) -> int:
    """``k(i) = clamp(round(total * (L - i) * st), 0, total)`` (spec eqs. 8, 13).

    ``block`` is 1-indexed. Halves round up (``floor(x + 0.5)``) so that the
    schedule does not depend on Python's round-half-to-even.
    """
    return min(max(math.floor(total * (depth - block) * st + 0.5), 0), total)


def topk_mask(scores: Tensor, k: int) -> Tensor:
    """Boolean mask of the ``k`` largest entries of each row (last dim): ``M_cs``.

    Its complement is ``M_ns``; together they partition the row.
    """
    mask = torch.zeros_like(scores, dtype=torch.bool)
    if k > 0:
        mask.scatter_(-1, scores.detach().topk(k, dim=-1).indices, True)
    return mask


def ppdo_update(x_cls: Tensor, x_patch: Tensor, P: Tensor, k: int, af: float, sf: float,
                suppress: str = 'self') -> Tensor:
    """Patch-token update of eq. 11 (PPDO); returns the new patch tokens.

    ``X_patch' = X_patch + AF * A_cs^T @ X_cls + SF * colsum(A_ns) * X_patch``
    (``suppress='self'``), or with ``SF * A_ns^T @ X_cls`` as the last term
    (``suppress='class'``).
    """
    m_cs = topk_mask(P, k)
    A_cs = P * m_cs
    A_ns = P - A_cs  # = P * M_ns: the two masks partition P
    out = x_patch + af * (A_cs.transpose(1, 2) @ x_cls)
    if suppress == 'self':
        out = out + sf * A_ns.sum(dim=1).unsqueeze(-1) * x_patch
    elif suppress == 'class':
        out = out + sf * (A_ns.transpose(1, 2) @ x_cls)
    else:
        raise ValueError(f"ppdo_suppress must be 'self' or 'class', got {suppress!r}")
    return out


def cpdo_update(x_cls: Tensor, S: Tensor, k: int, af: float, sf: float) -> Tensor:
    """Class-token update of eq. 16 (CPDO); returns the new class tokens.

    ``X_cls' = X_cls + AF * (S * Mc_cs) @ X_cls + SF * (S * Mc_ns) @ X_cls``.
    """
    m_cs = topk_mask(S, k)
    S_cs = S * m_cs
    S_ns = S - S_cs
    return x_cls + af * (S_cs @ x_cls) + sf * (S_ns @ x_cls)


def doei_selection(attn: Tensor, num_cls: int, block: int, depth: int, *, st_p2c: float, st_c2c: float,
                   alpha: float = 0., hfa: Optional[Tensor] = None) -> dict:
    """What :func:`doei_update` selects at block ``block``, for inspection (the mechanism view).

    The same steps as :func:`doei_update` (:func:`doei_scores`, :func:`hfa_blend`,
    :func:`num_confident`, :func:`topk_mask`), returned instead of applied:
    ``P_hfa`` ``(B, C, N)`` the HFA-blended patch scores, ``k_p`` and
    ``mask_p`` ``(B, C, N)`` the patches PPDO amplifies (its complement is
    suppressed), ``S`` ``(B, C, C)``, ``k_c`` and ``mask_c`` the class tokens
    CPDO amplifies. All detached.
    """
    C, N = num_cls, attn.shape[-1] - num_cls
    P, S = doei_scores(attn.detach(), C)
    P_hfa = hfa_blend(P, None if hfa is None else hfa.detach(), alpha)
    k_p, k_c = num_confident(block, depth, N, st_p2c), num_confident(block, depth, C, st_c2c)
    return dict(P_hfa=P_hfa, k_p=k_p, mask_p=topk_mask(P_hfa, k_p), S=S, k_c=k_c, mask_c=topk_mask(S, k_c))


def doei_update(x: Tensor, attn: Tensor, num_cls: int, block: int, depth: int, *,
                st_p2c: float, af_p2c: float, sf_p2c: float,
                st_c2c: float, af_c2c: float, sf_c2c: float,
                alpha: float = 0., hfa: Optional[Tensor] = None,
                ppdo: bool = True, cpdo: bool = True, ppdo_suppress: str = 'self',
                detach_scores: bool = False) -> Tensor:
    """One DOEI step on the tokens out of block ``block`` (1-indexed), eqs. 7-17.

    Both updates read ``x`` from before either update. With one class token CPDO
    is skipped (the spec: a no-op with ``C = 1``).

    Args:
        x: Tokens out of the block, ``(B, C + N, D)``, class tokens first.
        attn: That block's head-averaged attention, ``(B, C + N, C + N)``.
        num_cls: ``C``.
        block: ``i`` in ``1..L``.
        depth: ``L``.
        hfa: The HFA affinity ``H`` (``(B, N, N)``) or None.

    Returns:
        The input of block ``i + 1``, same shape as ``x``.
    """
    C, N = num_cls, x.shape[1] - num_cls
    x_cls, x_patch = x[:, :C], x[:, C:]
    P, S = doei_scores(attn, C)
    if detach_scores:
        P, S = P.detach(), S.detach()
    new_cls, new_patch = x_cls, x_patch
    if ppdo:
        P_hfa = hfa_blend(P, hfa, alpha)
        k_p = num_confident(block, depth, N, st_p2c)
        new_patch = ppdo_update(x_cls, x_patch, P_hfa, k_p, af_p2c, sf_p2c, ppdo_suppress)
    if cpdo and C > 1:
        k_c = num_confident(block, depth, C, st_c2c)
        new_cls = cpdo_update(x_cls, S, k_c, af_c2c, sf_c2c)
    return torch.cat((new_cls, new_patch), dim=1)
