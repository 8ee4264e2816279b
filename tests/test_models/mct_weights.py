"""Deterministic weights for a tiny MCTformer, shared by the tests and the scripts that
measured the authors' outputs on them (tests/data/reference/README.md)."""
import torch
from mmpretrain.registry import MODELS

TINY = dict(arch=dict(embed_dims=64, num_layers=3, num_heads=2, feedforward_channels=256),
            img_size=64, patch_size=16)


def build_tiny(version: str, img_size: int = 64, **kw):
    """The tiny model; ``img_size`` sets its position-embedding grid (``img_size / 16``)."""
    return MODELS.build(dict(type=f'MCTformer{version.upper()}', num_classes=20,
                             backbone=dict(TINY, img_size=img_size), **kw))


def deterministic_state(version: str, img_size: int = 64) -> dict:
    """Every tensor drawn from N(0, 0.1^2) (LayerNorm weights 1 + that), keys in sorted order."""
    state = build_tiny(version, img_size).state_dict()
    g = torch.Generator().manual_seed(2024)
    out = {}
    for k in sorted(state):
        v = torch.randn(state[k].shape, generator=g) * 0.1
        if ('ln' in k.split('.')[-2]) and k.endswith('weight'):
            v = v + 1
        out[k] = v
    return {k: out[k] for k in state}
