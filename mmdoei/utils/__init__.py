"""Shared helpers (the lowest layer: they import nothing else of mmdoei): atomic
file writes, split files and label PNGs, dense CRF, config surgery, the
registration helper and :func:`setup_env`, the mmengine/torch fixes, safe
checkpoint downloads and loading (:mod:`.weights`: every checkpoint mmengine
loads, with ``weights_only=True``; a strict fit of checkpoint to model)."""
from .compat import setup_env
from .download import register_safe_http_loader
from .files import label_png_bytes, read_label_png, read_split, sample_id, voc_palette
from .io import atomic_write, load_npz, save_npz_atomic
from .weights import load_weights, register_safe_loaders

# Whenever mmdoei is imported, every checkpoint mmengine's CheckpointLoader reads (local
# files, http(s) with hash checks, s3/petrel, pavi, open-mmlab) is loaded with an explicit
# weights_only=True and mmengine's allow-list for that load only (see weights.py and
# download.py). This is the one change an import makes to mmengine, and it only tightens
# loading: mmengine's own loaders leave weights_only to torch's default and its env vars.
register_safe_loaders()
register_safe_http_loader()

__all__ = [
    'atomic_write', 'label_png_bytes', 'load_npz', 'load_weights', 'read_label_png', 'read_split',
    'register_safe_http_loader', 'register_safe_loaders', 'sample_id', 'save_npz_atomic', 'setup_env', 'voc_palette'
]
