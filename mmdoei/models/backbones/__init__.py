from .mct_vit import MCTVisionTransformer

__all__ = ['MCTVisionTransformer']
