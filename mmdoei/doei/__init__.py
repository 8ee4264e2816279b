"""The DOEI operator (pure functions), its attention layer, and the hook that mixes it in."""
from .attach import DOEIHandle, attach_doei, find_transformer_blocks
from .attention import DOEIAttention
from .config import DOEIConfig
from .functional import (cpdo_update, doei_scores, doei_update, hfa_affinity, hfa_blend, num_confident, ppdo_update,
                         topk_mask)
from .hook import DOEIHook

__all__ = [
    'DOEIAttention', 'DOEIConfig', 'DOEIHandle', 'DOEIHook', 'attach_doei', 'cpdo_update',
    'doei_scores', 'doei_update', 'find_transformer_blocks', 'hfa_affinity', 'hfa_blend',
    'num_confident', 'ppdo_update', 'topk_mask'
]
