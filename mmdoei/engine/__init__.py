"""The parts mmengine's Runner runs: the CAM generation loop, the thread-count
hook, the rank-0 logger hook, the weights-trace hook of the pretraining, the hooks of stages 2 and 3 and timm's cosine
schedule (registered in mmengine's root ``LOOPS``, ``HOOKS`` and
``PARAM_SCHEDULERS``, which every scope searches).
DOEI's own hook is :class:`mmdoei.doei.DOEIHook`."""
from .hooks import (CAMFolderCheckHook, MainProcessLoggerHook, NumThreadsHook, ProgressBarHook, PseudoMaskWriterHook,
                    ReseedHook, TraceReached, WeightsTraceHook, cam_transform_names, cam_transforms, check_dataset_cams,
                    iter_datasets, reads_cams, weights_sha256)
from .loops import CAMGenerationLoop
from .schedulers import TimmCosineLR

__all__ = [
    'CAMGenerationLoop', 'CAMFolderCheckHook', 'MainProcessLoggerHook', 'NumThreadsHook', 'PseudoMaskWriterHook',
    'ProgressBarHook', 'ReseedHook', 'TimmCosineLR', 'cam_transform_names', 'cam_transforms', 'check_dataset_cams',
    'iter_datasets', 'reads_cams', 'TraceReached', 'WeightsTraceHook', 'weights_sha256'
]
