"""The parts mmengine's Runner runs: the CAM generation loop, the thread-count
hook and the hooks of stages 2 and 3 (registered in mmengine's root ``LOOPS`` and ``HOOKS``, which
every scope searches). DOEI's own hook is :class:`mmdoei.doei.DOEIHook`."""
from .hooks import (CAM_TRANSFORMS, CAMFolderCheckHook, NumThreadsHook, ProgressBarHook, PseudoMaskWriterHook,
                    ReseedHook, cam_transforms, check_dataset_cams, iter_datasets)
from .loops import CAMGenerationLoop

__all__ = [
    'CAMGenerationLoop', 'CAMFolderCheckHook', 'NumThreadsHook', 'PseudoMaskWriterHook', 'ProgressBarHook',
    'ReseedHook', 'CAM_TRANSFORMS', 'cam_transforms', 'check_dataset_cams', 'iter_datasets'
]
