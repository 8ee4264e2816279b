"""The DOEI operator (pure functions), the attention adapters, and the hook that mixes it in."""
from .adapters import (FAMILIES, AttentionFamily, DOEIBEiTAttention, DOEIEVA02Attention, DOEIMMCVAttention,
                       DOEITimmAttention, adapt_attention, attention_family)
from .attach import DOEIHandle, attach_doei, find_transformer_blocks
from .attention import DOEIAttention
from .config import DOEIConfig
from .functional import (cpdo_update, doei_scores, doei_selection, doei_update, hfa_affinity, hfa_blend, num_confident,
                         ppdo_update, topk_mask)
from .hook import DOEIHook
from .model import attach_from_hooks, attach_logged, build_doei_model, deferred_doei_log, doei_handle, doei_target

__all__ = [
    'FAMILIES', 'AttentionFamily', 'DOEIAttention', 'DOEIBEiTAttention', 'DOEIConfig',
    'DOEIEVA02Attention', 'DOEIHandle', 'DOEIHook', 'DOEIMMCVAttention', 'DOEITimmAttention',
    'adapt_attention', 'attach_doei', 'attention_family', 'cpdo_update', 'doei_scores', 'doei_selection', 'doei_update',
    'find_transformer_blocks', 'hfa_affinity', 'attach_from_hooks', 'attach_logged', 'build_doei_model',
    'deferred_doei_log', 'doei_handle', 'doei_target', 'hfa_blend', 'num_confident', 'ppdo_update',
    'topk_mask'
]
