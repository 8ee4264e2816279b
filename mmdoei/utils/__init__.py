"""Shared helpers: atomic file writes, safe checkpoint downloads and the mmengine/torch compatibility fixes."""
from .download import register_safe_http_loader
from .io import atomic_write, load_npz, save_npz_atomic

# Whenever mmdoei is imported, http(s) checkpoints load with weights_only=True and hash
# checks (mmengine's own loader unpickles them in full): see download.py.
register_safe_http_loader()

__all__ = ['atomic_write', 'load_npz', 'save_npz_atomic', 'register_safe_http_loader']
