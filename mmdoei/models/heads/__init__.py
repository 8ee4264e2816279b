from .mct_head import MCTHead

__all__ = ['MCTHead']
