"""The pseudo-label stage (PSA): everything it registers, and its inference loop.

Importing this package registers ResNet-38d, AffinityNet and its head (mmpretrain
and mmseg ``MODELS``), the stage-2 transforms (mmpretrain and mmseg
``TRANSFORMS``) and the hooks (mmengine ``HOOKS``), so a config needs only
``custom_imports=dict(imports=['mmdoei', 'mmdoei.psa'])``.
"""
from mmdoei.datasets import transforms as _transforms  # noqa: F401  registers the transforms
from mmdoei.models import affinity as _affinity  # noqa: F401  registers the models
from .hooks import CAMFolderCheckHook, ProgressBarHook, PseudoMaskWriterHook, check_dataset_cams, label_png_bytes
from .infer import pending_indices, run_psa_inference, set_cam_dir

__all__ = [
    'CAMFolderCheckHook', 'PseudoMaskWriterHook', 'ProgressBarHook', 'check_dataset_cams', 'label_png_bytes',
    'pending_indices', 'run_psa_inference', 'set_cam_dir'
]
