from .conformer import TransCAMConformer
from .mct_vit import MCTVisionTransformer

__all__ = ['MCTVisionTransformer', 'TransCAMConformer']
