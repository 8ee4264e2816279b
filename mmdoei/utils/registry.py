"""``register_in``: register one class in the registries of several OpenMMLab libraries.

See the registration policy in :mod:`mmdoei`. A class built by one library's
configs uses that library's decorator (``@MODELS.register_module()`` of
``mmpretrain.registry``, of ``mmseg.registry``, or mmengine's root registry
for hooks and loops); a class that both stage-1/2 configs (mmpretrain scope)
and stage-3 configs (mmseg scope) build uses this decorator instead, so it is
registered under the same name in both.

Classes also declare what they are to the code above them by class attributes
(a transform's ``reads_cams``, a classifier's ``cam_protocol`` and
``checkpoint_converter``); :func:`registered_classes`, :func:`find_class` and
:func:`declarations` find them in the registries at lookup time, so a class
registered anywhere (a user's module included) is found without a list to edit.
"""
import importlib
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union

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


#: The libraries whose registries mmdoei's classes live in (mmengine's root ones, mmpretrain's, mmseg's).
SCOPES = ('mmengine', 'mmpretrain', 'mmseg')


def _registries(kind: str, scopes: Sequence[str]) -> List:
    """``{scope}.registry.{kind}`` of each scope, its lazy ``locations`` imported (so every
    class registered by an mmdoei module, or by the caller, is in its ``module_dict``)."""
    out = []
    for scope in scopes:
        registry = getattr(importlib.import_module(f'{scope}.registry'), kind)
        registry.import_from_location()
        out.append(registry)
    return out


def registered_classes(kind: str, scopes: Sequence[str] = SCOPES) -> List[type]:
    """Every class in the ``kind`` registries of ``scopes``, each once, in registration order."""
    seen: Dict[int, type] = {}
    for registry in _registries(kind, scopes):
        for cls in registry.module_dict.values():
            if isinstance(cls, type):
                seen.setdefault(id(cls), cls)
    return list(seen.values())


def find_class(kind: str, type_name: Union[str, type], scopes: Sequence[str] = SCOPES,
               default_scope: Optional[str] = None) -> Optional[type]:
    """The class a config's ``type`` names in the ``kind`` registries, or None.

    ``type_name`` may be scoped (``'mmseg.LoadCAMFromFile'``, ``'mmdoei.X'``): a
    library's prefix looks there first; any other prefix (mmdoei has no registry
    of its own) only names the class. Then ``default_scope``'s registry, then
    the others in order. A class given as ``type`` is returned as is.
    """
    if isinstance(type_name, type):
        return type_name
    if not isinstance(type_name, str):
        return None
    prefix, _, name = type_name.rpartition('.')
    order = [s for s in (prefix, default_scope) if s in scopes] + list(scopes)
    for registry in _registries(kind, list(dict.fromkeys(order))):
        cls = registry.module_dict.get(name)
        if isinstance(cls, type):
            return cls
    return None


def declarations(kind: str, attr: str, scopes: Sequence[str] = SCOPES) -> Dict[str, Tuple[Any, type]]:
    """Named declarations of registered classes: ``{name: (value, class)}`` from every class
    of the ``kind`` registries whose attribute ``attr`` is a ``(name, value)`` pair.

    A class inherits its base's declaration (the same pair: no conflict); two
    classes declaring one name with different values are refused.

    Raises:
        ValueError: naming both classes and the name, for a conflict or a
            declaration that is not a ``(str, value)`` pair.
    """
    found: Dict[str, Tuple[Any, type]] = {}
    for cls in registered_classes(kind, scopes):
        pair = getattr(cls, attr, None)
        if pair is None:
            continue
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)):
            raise ValueError(f'{cls.__module__}.{cls.__qualname__}.{attr} must be a (name, value) pair, '
                             f'got {pair!r}')
        name, value = pair
        if name in found and found[name][0] is not value and found[name][0] != value:
            other = found[name][1]
            raise ValueError(f'{attr} {name!r} is declared differently by {other.__module__}.{other.__qualname__} '
                             f'({found[name][0]!r}) and {cls.__module__}.{cls.__qualname__} ({value!r})')
        found.setdefault(name, (value, cls))
    return found


class DeclaredTable(Mapping):
    """A read-only ``{name: value}`` map rebuilt from the classes' declarations at every
    lookup (:func:`declarations`), so that a class registered later is found by name.

    Subclasses give :meth:`table` and ``what`` (the kind of name, for the error
    of an unknown one).
    """

    what = 'name'

    def table(self) -> Dict[str, Any]:
        """``{name: value}`` as the registries declare it now."""
        raise NotImplementedError

    def __getitem__(self, name: str) -> Any:
        table = self.table()
        if name not in table:
            raise KeyError(f'unknown {self.what} {name!r}; known: {sorted(table)}')
        return table[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.table())

    def __len__(self) -> int:
        return len(self.table())

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.table()!r})'
