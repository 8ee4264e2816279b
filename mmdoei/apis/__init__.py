"""Stages as functions that run in-process through mmengine's Runner and hand
their results back: the notebook API (``init_model``, ``inference_cams``,
``show_cams``), CAM generation and seed scoring, one stage-1 experiment,
pseudo masks, the pretrained backbone and the whole pipeline."""
from .cams import cam_generation_cfg, evaluate_seeds
from .inference import inference_cams, init_model, show_cams
from .pipeline import STAGES, WSSSPipeline, run_pipeline
from .pseudo_masks import pending_indices, run_psa_inference, set_cam_dir

__all__ = [
    'cam_generation_cfg', 'evaluate_seeds', 'inference_cams', 'init_model', 'show_cams', 'STAGES', 'WSSSPipeline',
    'run_pipeline', 'pending_indices', 'run_psa_inference', 'set_cam_dir'
]
