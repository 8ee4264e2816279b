"""Shared helpers: atomic file writes and the mmengine/torch compatibility fixes."""
from .io import atomic_write, load_npz, save_npz_atomic

__all__ = ['atomic_write', 'load_npz', 'save_npz_atomic']
