"""Shared helpers (the lowest layer: they import nothing else of mmdoei): atomic
file writes, split files and label PNGs, dense CRF, config surgery, the
registration helper and :func:`setup_env`, the mmengine/torch fixes, and safe
checkpoint downloads."""
from .compat import setup_env
from .download import register_safe_http_loader
from .files import label_png_bytes, read_label_png, read_split, sample_id, voc_palette
from .io import atomic_write, load_npz, save_npz_atomic

# Whenever mmdoei is imported, http(s) checkpoints load with weights_only=True and hash
# checks (mmengine's own loader unpickles them in full): see download.py. This is the one
# change an import makes to mmengine, and it only tightens loading.
register_safe_http_loader()

__all__ = [
    'atomic_write', 'label_png_bytes', 'load_npz', 'read_label_png', 'read_split', 'register_safe_http_loader',
    'sample_id', 'save_npz_atomic', 'setup_env', 'voc_palette'
]
