from .hub import get_model, list_models, model_info, register_model_index
from .inference import inference_cams, init_model, show_cams
from .inferencer import CAMInferencer
from .pipeline import cam_generation_cfg, evaluate_seeds

# The zoo's models for get_model and, through its ModelHub, mmpretrain.get_model.
register_model_index()

__all__ = ['CAMInferencer', 'cam_generation_cfg', 'evaluate_seeds', 'get_model', 'inference_cams', 'init_model',
           'list_models', 'model_info', 'register_model_index', 'show_cams']
