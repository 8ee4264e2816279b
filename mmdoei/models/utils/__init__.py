from .checkpoint import (convert_mctformer, convert_transcam, convert_tscam, is_timm_conformer, is_timm_vit, is_vit,
                         strip_prefix, timm_conformer_to_mmpretrain, timm_vit_to_mmpretrain, to_mmpretrain_conformer,
                         to_mmpretrain_vit, unwrap_state_dict, vit_to_conformer_transformer)

__all__ = [
    'convert_mctformer', 'convert_transcam', 'convert_tscam', 'is_timm_conformer', 'is_timm_vit', 'is_vit',
    'strip_prefix', 'timm_conformer_to_mmpretrain', 'timm_vit_to_mmpretrain', 'to_mmpretrain_conformer',
    'to_mmpretrain_vit', 'unwrap_state_dict', 'vit_to_conformer_transformer'
]
