"""mmdoei's torch-free helpers for the dataset converters, without running ``mmdoei/__init__.py``.

The converters need only ``mmdoei.utils`` io, files, locks and record, which
import neither torch nor the rest of mmdoei; importing the package would load
torch and mmseg (6-8 s, 750 MB) for a conversion. Shared by voc_aug.py and
coco_wsss.py (a sibling module: the tools folder is on the path when they run).
"""
import importlib
import importlib.util
import os
import sys
import types

#: The private package :func:`utils` loads mmdoei's torch-free helpers under.
_LIGHT = '_mmdoei_converter_utils'


def utils(name: str):
    """``mmdoei.utils.<name>`` (io, files, locks, record): the only helpers the converter needs, and they
    import neither torch nor the rest of mmdoei. Unless mmdoei is already imported, they are loaded from
    mmdoei's ``utils`` folder as a private package, so that ``mmdoei/__init__.py`` (torch, mmseg: 6-8 s and
    750 MB) does not run for a conversion."""
    if 'mmdoei' in sys.modules:
        return importlib.import_module(f'mmdoei.utils.{name}')
    if _LIGHT not in sys.modules:
        spec = importlib.util.find_spec('mmdoei')  # finds the package without running its __init__
        if spec is None or not spec.submodule_search_locations:
            raise ImportError('mmdoei is not installed and not on the path (pip install -e . in the repository)')
        pkg = types.ModuleType(_LIGHT)
        pkg.__path__ = [os.path.join(list(spec.submodule_search_locations)[0], 'utils')]
        sys.modules[_LIGHT] = pkg
    return importlib.import_module(f'{_LIGHT}.{name}')
