from .base import WSSSClassifier
from .mctformer import MCTformerV1, MCTformerV2

__all__ = ['MCTformerV1', 'MCTformerV2', 'WSSSClassifier']
