from .checkpoint import (convert_mctformer, is_timm_vit, timm_vit_to_mmpretrain, to_mmpretrain_vit,
                         unwrap_state_dict)

__all__ = ['convert_mctformer', 'is_timm_vit', 'timm_vit_to_mmpretrain', 'to_mmpretrain_vit', 'unwrap_state_dict']
