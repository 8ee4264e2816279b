"""mmdoei: DOEI for weakly supervised semantic segmentation, an OpenMMLab 2.x plugin.

Packages, by component as in mmpretrain and mmseg, in layers; a module imports
only from its own layer or lower ones (``tests/test_imports.py`` checks this
and that there is no import cycle)::

    utils                      file helpers, CRF, config surgery, setup_env   (imports no mmdoei)
    cam                        CAM formulas, the CAM file format, seeds       (the CAM core)
    doei                       the DOEI operator, attention layer, hook
    models, datasets,          stage 1-3 models; datasets and transforms;
      generators               synthetic VOC/COCO, procedural set, stand-in CAMs
    evaluation, engine         metrics and reports; loops and hooks
    apis, analysis             in-process stages, the pipeline, notebooks; sweeps

Registration policy: ``import mmdoei`` registers every class, the model zoo's
index (:mod:`mmdoei.apis.hub`, also for mmpretrain's ``ModelHub``) and safe
checkpoint loaders: every scheme of mmengine's ``CheckpointLoader`` that ends
in ``torch.load`` (local files, ``http(s)://`` with hash checks and through it
``torchvision://``/``mmcls://``, ``s3://``/``petrel://``, ``pavi://``,
``open-mmlab://``) loads with an explicit ``weights_only=True`` and mmengine's
allow-list of checkpoint globals applied for that one load
(:mod:`mmdoei.utils.weights`, :mod:`mmdoei.utils.download`). That only tightens
mmengine's loading; nothing else is patched and torch's global allow-list is
left as it is. Each class is registered
where it is defined, by a decorator, in the registry of the library whose
configs build it: mmpretrain's for stage 1 (and stage 2's AffinityNet, which
trains in that scope), mmseg's for stage 3, mmengine's root ``HOOKS`` and
``LOOPS`` for hooks and loops (every scope searches the root). A class that both
scopes build is registered in each with
:func:`mmdoei.utils.registry.register_in`. So a config needs only
``custom_imports = dict(imports=['mmdoei'])``.

The other mmengine/torch fixes (torchrun and srun on CPU-only machines, and
the checkpoint globals in torch's allow-list for the whole process) are
applied by :func:`mmdoei.utils.setup_env`, which the tools and the
stage-running ``mmdoei.apis`` functions call; on a GPU machine it leaves
mmengine's distributed functions untouched. Loading a model in a notebook
(``init_model``, ``get_model``, ``CAMInferencer``) needs no ``setup_env``.
"""
from . import analysis, apis, cam, datasets, doei, engine, evaluation, generators, models  # noqa: F401
from .doei import DOEIAttention, DOEIConfig, DOEIHook, attach_doei
from .utils import setup_env
from .version import __version__

__all__ = ['DOEIAttention', 'DOEIConfig', 'DOEIHook', 'attach_doei', 'setup_env', '__version__']
