from .base import WSSSClassifier
from .mctformer import MCTformerV1, MCTformerV2
from .transcam import TransCAM
from .tscam import TSCAM

__all__ = ['MCTformerV1', 'MCTformerV2', 'TransCAM', 'TSCAM', 'WSSSClassifier']
