"""Stages as functions that run in-process through mmengine's Runner and hand
their results back: the notebook API (``get_model``, ``CAMInferencer``,
``init_model``, ``inference_cams``, ``show_cams``), the model zoo, config
surgery (:mod:`.config_surgery`: data roots, CAM generation, CAM folders,
TTA), seed scoring, pseudo masks, the pretrained backbone, the
steps' records (:mod:`.steps`) and the whole pipeline (with the stage-1 unit
the demo and the sweep run).

Only the zoo index (:mod:`.hub`) is imported with the package, to register
the zoo's names for ``get_model`` and mmpretrain's ``ModelHub``; the other
modules load on first use, so ``import mmdoei`` does not build the whole
stack of mmpretrain and mmseg (see :mod:`mmdoei`).
"""
import importlib
from typing import Any, List

from .hub import list_models, model_info, register_model_index

# The zoo's models for get_model and, through its ModelHub, mmpretrain.get_model.
register_model_index()

# name -> the module (of this package) that defines it, imported when the name is first used
_LAZY = {
    'apply_tta': 'config_surgery', 'cam_generation_cfg': 'config_surgery', 'set_cam_dir': 'config_surgery',
    'set_data_root': 'config_surgery', 'shorten_schedule': 'config_surgery',
    'evaluate_seeds': 'mmdoei.evaluation.seed_eval',
    'get_model': 'inference', 'inference_cams': 'inference', 'init_model': 'inference', 'show_cams': 'inference',
    'CAMInferencer': 'inferencer',
    'STAGES': 'pipeline', 'WSSSPipeline': 'pipeline', 'run_pipeline': 'pipeline',
    'pending_indices': 'pseudo_masks', 'run_psa_inference': 'pseudo_masks',
}

__all__ = [
    'CAMInferencer', 'STAGES', 'WSSSPipeline', 'apply_tta', 'cam_generation_cfg', 'evaluate_seeds', 'get_model',
    'inference_cams', 'init_model', 'list_models', 'model_info', 'pending_indices', 'register_model_index',
    'run_pipeline', 'run_psa_inference', 'set_cam_dir', 'set_data_root', 'shorten_schedule', 'show_cams'
]


def __getattr__(name: str) -> Any:
    """The names of the notebook API and the stages, imported from their module on first use."""
    if name in _LAZY:
        module = _LAZY[name] if _LAZY[name].startswith('mmdoei.') else f'{__name__}.{_LAZY[name]}'
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # once: later lookups do not come here
        return value
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))
