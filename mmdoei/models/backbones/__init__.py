from .conformer import TransCAMConformer
from .mct_vit import MCTVisionTransformer
from .resnet38d import ResNet38d

__all__ = ['MCTVisionTransformer', 'ResNet38d', 'TransCAMConformer']
