"""``register_in``: register one class in the registries of several OpenMMLab libraries.

See the registration policy in :mod:`mmdoei`. A class built by one library's
configs uses that library's decorator (``@MODELS.register_module()`` of
``mmpretrain.registry``, of ``mmseg.registry``, or mmengine's root registry
for hooks and loops); a class that both stage-1/2 configs (mmpretrain scope)
and stage-3 configs (mmseg scope) build uses this decorator instead, so it is
registered under the same name in both.
"""
import importlib
from typing import Callable, TypeVar

T = TypeVar('T', bound=type)


def register_in(kind: str, *scopes: str) -> Callable[[T], T]:
    """A class decorator registering the class in ``{scope}.registry.{kind}`` for each scope.

    Args:
        kind: The registry's name, e.g. ``'MODELS'``, ``'TRANSFORMS'``, ``'METRICS'``.
        *scopes: Library names, e.g. ``'mmpretrain', 'mmseg'``.
    """
    if not scopes:
        raise ValueError('register_in needs at least one scope')

    def decorator(cls: T) -> T:
        for scope in scopes:
            registry = getattr(importlib.import_module(f'{scope}.registry'), kind)
            if registry.module_dict.get(cls.__name__) is not cls:
                registry.register_module(module=cls)  # a name taken by another class raises KeyError
        return cls

    return decorator
