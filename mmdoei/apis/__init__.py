"""Stages as functions that run in-process through mmengine's Runner and hand
their results back: the notebook API (``get_model``, ``CAMInferencer``,
``init_model``, ``inference_cams``, ``show_cams``), the model zoo, CAM
generation and seed scoring, one stage-1 experiment, pseudo masks, the
pretrained backbone and the whole pipeline."""
from .cams import cam_generation_cfg, evaluate_seeds
from .hub import list_models, model_info, register_model_index
from .inference import get_model, inference_cams, init_model, show_cams
from .inferencer import CAMInferencer
from .pipeline import STAGES, WSSSPipeline, run_pipeline
from .pseudo_masks import pending_indices, run_psa_inference, set_cam_dir

# The zoo's models for get_model and, through its ModelHub, mmpretrain.get_model.
register_model_index()

__all__ = [
    'CAMInferencer', 'STAGES', 'WSSSPipeline', 'cam_generation_cfg', 'evaluate_seeds', 'get_model',
    'inference_cams', 'init_model', 'list_models', 'model_info', 'pending_indices', 'register_model_index',
    'run_pipeline', 'run_psa_inference', 'set_cam_dir', 'show_cams'
]
