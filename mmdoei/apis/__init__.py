from .inference import inference_cams, init_model, show_cams
from .pipeline import cam_generation_cfg, evaluate_seeds

__all__ = ['cam_generation_cfg', 'evaluate_seeds', 'inference_cams', 'init_model', 'show_cams']
