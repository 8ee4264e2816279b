"""The model zoo: models by name from the metafiles, as mmpretrain's ``get_model``.

    from mmdoei.apis import get_model, list_models
    list_models('mctformer*')
    model = get_model('mctformer-v2_deit-s_voc12aug_authors', pretrained=True)

The zoo is ``model-index.yml`` (``mmdoei/.mim/model-index.yml`` in an installed
package, the repository root in a checkout), which imports one
``configs/<algorithm>/metafile.yml`` per algorithm in OpenMMLab's schema
(Collections; Models with Name, In Collection, Config, Metadata, Results,
Weights, Converted From). mmdoei reads a few more fields of a Model:

- ``Converter``: the authors' file is not in mmdoei's format; the named
  converter (one of :data:`CONVERTERS`: each stage-1 classifier class declares
  its own as ``checkpoint_converter``; ``tools/model_converters/`` run them
  too) maps it whenever its URL is loaded, so ``get_model(..., pretrained=True)``,
  ``load_from`` and ``init_cfg`` all get an mmdoei state dict;
- ``Init: true``: the weights are an initialisation (ImageNet): they are loaded
  by the Config's ``model.backbone.init_cfg``, the rest of the model keeps its
  initialisation (as training starts);
- ``Published: false``: the release that will host the file does not exist
  yet; it resolves through ``$MMDOEI_MIRROR`` or the cache only;
- ``Weights Note``: why the Weights URL has no hash prefix, or why there are
  no Weights; ``Results Note``: where the Results come from.

Importing :mod:`mmdoei` registers the index with mmpretrain's ``ModelHub`` too,
so ``mmpretrain.get_model``/``list_models`` see these models (for ``Init``
entries mmpretrain gets no Weights: it would load them into the whole model).
"""
import copy
import difflib
import fnmatch
import os.path as osp
import re
import warnings
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Union

import yaml
from mmengine.config import Config

from mmdoei.utils import download
from mmdoei.utils.registry import DeclaredTable, declarations


class CheckpointConverters(DeclaredTable):
    """The metafiles' ``Converter`` names -> functions (checkpoint -> mmdoei state
    dict): the ``checkpoint_converter = (name, function)`` every classifier
    class in the ``MODELS`` registries declares (``mctformer2mmdoei``,
    ``tscam2mmdoei``, ``transcam2mmdoei``), read at every lookup, so a
    classifier registered later (a new baseline, a user's class) is found by
    name without editing mmdoei. Looking one up imports mmdoei's classifiers
    (a registry lookup), so the zoo looks them up when a file is loaded, not
    at ``import mmdoei``.

    Raises:
        ValueError: on lookup, when two classes declare one name with different functions.
    """

    what = 'checkpoint Converter'

    def table(self) -> Dict[str, Callable[[Mapping], Mapping]]:
        """``{name: function}`` of every declared converter, as it is now."""
        return {name: fn for name, (fn, _) in declarations('MODELS', 'checkpoint_converter').items()}


#: The ``Converter`` names of the metafiles -> functions (see :class:`CheckpointConverters`).
CONVERTERS = CheckpointConverters()


def converter_of(name: str, where: str) -> Callable[[Mapping], Mapping]:
    """A function converting a checkpoint with the converter ``name``, found when it runs
    (:data:`CONVERTERS`); an unknown name then raises a ValueError naming ``where`` (the metafile's model)."""

    def convert(ckpt: Mapping) -> Mapping:
        converters = CONVERTERS.table()
        if name not in converters:
            raise ValueError(f'{where}: unknown Converter {name!r} (known: {sorted(converters)}; a classifier '
                             'class declares one as checkpoint_converter = (name, function))')
        return converters[name](ckpt)

    convert.__name__ = convert.__qualname__ = name
    return convert


_PACKAGE = Path(__file__).resolve().parents[1]
_MODELS: Dict[str, dict] = {}
_REGISTERED: List[str] = []


def default_model_index() -> Path:
    """``mmdoei/.mim/model-index.yml`` when installed with its mim files, else the checkout's."""
    mim = _PACKAGE / '.mim' / 'model-index.yml'
    return mim if mim.is_file() else _PACKAGE.parent / 'model-index.yml'


def _read_yaml(path: Path) -> dict:
    with open(path, encoding='utf-8') as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise ValueError(f'{path}: not a model-index or metafile mapping')
    return data


def _metafile_models(path: Path, config_prefix: Path) -> List[dict]:
    """The Models of one metafile, each completed with its Collection's fields."""
    data = _read_yaml(path)
    collections = {c['Name']: c for c in data.get('Collections') or []}
    out = []
    for m in data.get('Models') or []:
        if 'Name' not in m or 'Config' not in m:
            raise ValueError(f'{path}: every model needs Name and Config, got {m}')
        col = collections.get(m.get('In Collection'), {})
        if m.get('In Collection') and not col:
            raise ValueError(f"{path}: model {m['Name']}: unknown collection {m['In Collection']!r}")
        full = {k: copy.deepcopy(v) for k, v in col.items() if k != 'Name'}
        metadata = dict(col.get('Metadata') or {})
        metadata.update(m.get('Metadata') or {})
        full.update(copy.deepcopy(m))
        full['Metadata'] = metadata
        full['Config'] = str(config_prefix / m['Config'])
        full['_metafile'] = str(path)
        out.append(full)
    return out


def load_model_index(path: Union[str, Path, None] = None) -> Dict[str, dict]:
    """All models of a model index by lower-case name (Collections merged in, Config absolute).

    Raises:
        ValueError: a name appears twice, naming both metafiles.
    """
    path = Path(path or default_model_index())
    index = _read_yaml(path)
    models: Dict[str, dict] = {}
    for rel in index.get('Import') or []:
        for m in _metafile_models(path.parent / rel, path.parent):
            key = m['Name'].lower()
            if key in models:
                raise ValueError(f"model {m['Name']} is defined in {models[key]['_metafile']} and "
                                 f"{m['_metafile']}")
            models[key] = m
    return models


def register_model_index(path: Union[str, Path, None] = None, mmpretrain_hub: bool = True) -> List[str]:
    """Add a model index to the zoo (``get_model``, ``list_models``) and to the safe loader.

    Entries with a ``Converter`` have it registered for their Weights URL
    (looked up by name in :data:`CONVERTERS` when the file is loaded; an
    unknown name then stops the load, naming the metafile and the model);
    ``Published: false`` entries are never requested from their host. With
    ``mmpretrain_hub``, mmpretrain's ``ModelHub`` learns them too. Registering
    the same file twice does nothing.

    Returns:
        The names added.
    """
    if path is None and not default_model_index().is_file():
        warnings.warn(f'mmdoei: no model index at {default_model_index()} (a package installed without its '
                      '.mim files?); the zoo is empty')
        return []
    path = Path(path or default_model_index()).resolve()
    if str(path) in _REGISTERED:
        return []
    models = load_model_index(path)
    clash = sorted(set(models) & set(_MODELS))
    if clash:
        raise ValueError(f'{path}: models already in the zoo: {clash}')
    for key, m in models.items():
        url = m.get('Weights')
        if url and m.get('Converter'):
            # Resolved when the file is loaded: finding the classifiers' declarations imports them all.
            download.register_converter(url, m['Converter'],
                                        converter_of(m['Converter'], f"{m['_metafile']}: model {m['Name']}"))
        if url and m.get('Published') is False:
            download.mark_unpublished(url, m.get('Weights Note') or 'its release does not exist yet')
    _MODELS.update(models)
    _REGISTERED.append(str(path))
    if mmpretrain_hub:
        _register_with_mmpretrain(path, models)
    return list(models)


def _register_with_mmpretrain(path: Path, models: Dict[str, dict]) -> None:
    """Make ``mmpretrain.get_model``/``list_models`` see the models (``ModelHub`` takes extra indexes)."""
    try:
        from mmpretrain.apis.model import ModelHub
    except ImportError:  # pragma: no cover - mmpretrain is a hard dependency
        return
    ModelHub.register_model_index(str(path), config_prefix=str(path.parent))
    for key, m in models.items():
        if m.get('Init') and key in ModelHub._models_dict:
            # mmpretrain would load an initialisation into the whole model with load_checkpoint.
            ModelHub._models_dict[key].weights = None


def list_models(pattern: Optional[str] = None) -> List[str]:
    """Names of the zoo's models, sorted; ``pattern`` is a wildcard matched as ``pattern*``."""
    if not _REGISTERED:
        register_model_index()
    names = sorted(m['Name'] for m in _MODELS.values())
    return names if pattern is None else [n for n in names if fnmatch.fnmatch(n.lower(), pattern.lower() + '*')]


def model_info(name: str) -> dict:
    """The metafile entry of a model (its Collection's fields merged in, Config an absolute path)."""
    if not _REGISTERED:
        register_model_index()
    try:
        return copy.deepcopy(_MODELS[name.lower()])
    except KeyError:
        close = similar_models(name)
        raise ValueError(f'no model named {name!r} in the mmdoei zoo'
                         + (f'; similar: {close}' if close else '') + ' (see mmdoei.apis.list_models())') from None


def similar_models(name: str, n: int = 5) -> List[str]:
    """Zoo names close to ``name`` by similarity (difflib), whatever part of it is wrong;
    names containing it when it is a fragment."""
    names = list_models()
    by_lower = {m.lower(): m for m in names}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.6)
    close += [k for k in by_lower if name.lower() in k and k not in close]
    return [by_lower[k] for k in close[:n]]


#: Config folders of the zoo's stage-1 classifiers, the models with CAMs.
CAM_CONFIG_DIRS = ('mctformer', 'tscam', 'transcam', 'doei', 'demo')


def cam_models() -> List[str]:
    """The zoo's models that compute CAMs (stage-1 classifiers: MCTformer, TS-CAM, TransCAM, + DOEI)."""
    if not _REGISTERED:
        register_model_index()
    return sorted(m['Name'] for m in _MODELS.values()
                  if Path(m['Config']).parent.name in CAM_CONFIG_DIRS and not m.get('Init'))


def is_model_name(name: str) -> bool:
    """True if ``name`` is a model of the zoo (not a file path)."""
    if not _REGISTERED:
        register_model_index()
    return isinstance(name, str) and name.lower() in _MODELS


def resolve_model(name_or_config: Union[str, Config], pretrained: Union[bool, str] = False):
    """The config and checkpoint ``get_model`` builds from: ``(Config, checkpoint or None)``.

    For ``Init`` entries with ``pretrained=True`` the checkpoint is ``None`` and
    the weights URL is put into ``model.backbone.init_cfg`` instead.

    Raises:
        ValueError: an unknown name, or ``pretrained=True`` for an entry without
            weights (the message gives the entry's Weights Note).
    """
    if isinstance(name_or_config, Config) or (isinstance(name_or_config, str) and osp.isfile(name_or_config)):
        if pretrained is True:
            raise ValueError('pretrained=True needs a model name; with a config give the checkpoint path')
        cfg = name_or_config if isinstance(name_or_config, Config) else Config.fromfile(name_or_config)
        return cfg, (pretrained or None)
    info = model_info(name_or_config)
    cfg = Config.fromfile(info['Config'])
    if isinstance(pretrained, str):
        return cfg, pretrained
    if not pretrained:
        return cfg, None
    url = info.get('Weights')
    if not url:
        raise ValueError(f"model {info['Name']} has no weights to download: "
                         f"{info.get('Weights Note', 'none were published')}")
    if info.get('Converter') and info['Converter'] not in CONVERTERS:  # before the download, not after it
        raise ValueError(f"{info['_metafile']}: model {info['Name']}: unknown Converter {info['Converter']!r} "
                         f'(known: {sorted(CONVERTERS)})')
    if info.get('Init'):
        cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=url)
        return cfg, None
    return cfg, url


_ZOO_COLUMNS = ('model', 'config', 'data', 'seed', 'mask', 'val', 'numbers', 'weights')


def _metric(info: dict, key: str) -> str:
    for r in info.get('Results') or []:
        v = (r.get('Metrics') or {}).get(key)
        if v is not None:
            return f'{v}'
    return '-'


def zoo_table(models: Optional[Dict[str, dict]] = None) -> str:
    """The model-zoo table of docs/user_guides/model_zoo.md (markdown), generated from the metafiles.

    One row per model, in metafile order: name, config, training data, seed /
    mask / val mIoU where known, where the numbers come from, and the download
    (or why there is none).
    """
    if models is None:
        models = load_model_index()
    root = default_model_index().parent
    lines = ['| ' + ' | '.join(_ZOO_COLUMNS) + ' |', '|' + '---|' * len(_ZOO_COLUMNS)]
    for info in models.values():
        config = osp.relpath(info['Config'], root)
        data = info['Metadata'].get('Training Data', '-')
        data = ', '.join(data) if isinstance(data, list) else data
        url = info.get('Weights')
        if url and info.get('Published') is False:
            weights = 'not published yet (mirror or cache)'
        elif url:
            weights = f"[{'Google Drive' if download.is_drive_url(url) else 'download'}]({url})"
            weights += ' (converted on load)' if info.get('Converter') else ''
            weights += ' (backbone init)' if info.get('Init') else ''
        else:
            weights = 'none'
        note = re.split(r' \(|;', info.get('Results Note', '-'))[0].rstrip('.')
        row = [f"`{info['Name']}`", f'`{config}`', data, _metric(info, 'Seed mIoU'), _metric(info, 'Mask mIoU'),
               _metric(info, 'Val mIoU'), note, weights]
        lines.append('| ' + ' | '.join(str(c).replace('|', '/') for c in row) + ' |')
    return '\n'.join(lines) + '\n'
