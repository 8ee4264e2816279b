"""Shared helpers (the lowest layer: they import nothing else of mmdoei): atomic
file writes, split files and label PNGs, dense CRF, config surgery, the
registration helper and :func:`setup_env`, the mmengine/torch fixes."""
from .compat import setup_env
from .files import label_png_bytes, read_label_png, read_split, sample_id, voc_palette
from .io import atomic_write, load_npz, save_npz_atomic

__all__ = [
    'atomic_write', 'label_png_bytes', 'load_npz', 'read_label_png', 'read_split', 'sample_id', 'save_npz_atomic',
    'setup_env', 'voc_palette'
]
