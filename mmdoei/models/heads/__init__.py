from .mct_head import MCTHead
from .transcam_head import TransCAMHead
from .tscam_head import TSCAMHead

__all__ = ['MCTHead', 'TransCAMHead', 'TSCAMHead']
