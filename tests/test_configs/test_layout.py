"""The layout of configs/, read from the files with ``ast`` (no Config, no Runner, so it is fast):
no config is more than 3 levels of ``_base_`` below its entry file, an entry config inherits only
``configs/_base_/`` and configs of its own folder, and no config changes the model type it
inherits (a model built from another model's config). docs/user_guides/configs.md describes it."""
import ast
from pathlib import Path
from typing import Dict, List, Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / 'configs'
MAX_DEPTH = 3


def bases_of(path: Path) -> List[str]:
    """The ``_base_`` entries of a config file, as written (relative paths or ``pkg::`` names)."""
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == '_base_' for t in node.targets):
            value = ast.literal_eval(node.value)
            return [value] if isinstance(value, str) else list(value)
    return []


def local_bases(path: Path) -> List[Path]:
    """The bases inside this repository (``mmpretrain::``/``mmseg::`` ones are the libraries' own)."""
    return [(path.parent / b).resolve() for b in bases_of(path) if '::' not in b]


def longest_chain(path: Path) -> List[Path]:
    """The longest ``_base_`` chain from ``path`` down, ``path`` first."""
    chains = [longest_chain(b) for b in local_bases(path)]
    return [path] + max(chains, key=len, default=[])


def declared_model_type(path: Path) -> Optional[str]:
    """``type`` of the file's own top-level ``model = dict(type=...)``, or None."""
    for node in ast.parse(path.read_text(), str(path)).body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == 'model' for t in node.targets)
                and isinstance(node.value, ast.Call)):
            for kw in node.value.keywords:
                if kw.arg == 'type' and isinstance(kw.value, ast.Constant):
                    return kw.value.value
    return None


def inherited_model_type(path: Path) -> Optional[str]:
    """The model type a config gets from its bases (the last base that has one, as mmengine merges)."""
    types = [model_type(b) for b in local_bases(path)]
    return next((t for t in reversed(types) if t), None)


def model_type(path: Path) -> Optional[str]:
    return declared_model_type(path) or inherited_model_type(path)


def layout_problems(root: Path) -> List[str]:
    """Every breach of the layout rules under ``root`` (a configs folder), one line each."""
    problems = []
    for path in sorted(root.rglob('*.py')):
        rel = path.relative_to(root)
        entry = '_base_' not in rel.parts
        chain = longest_chain(path)
        if entry and len(chain) - 1 > MAX_DEPTH:
            problems.append(f'{rel}: {len(chain) - 1} levels of _base_ (at most {MAX_DEPTH}): '
                            + ' -> '.join(str(p.relative_to(root)) for p in chain))
        for base in local_bases(path):
            brel = base.relative_to(root)
            if entry and brel.parts[0] != '_base_' and base.parent != path.parent:
                problems.append(f"{rel} inherits {brel}, another model's folder (use the parts in _base_/)")
            own, inherited = declared_model_type(path), model_type(base)
            if own and inherited and own != inherited:
                problems.append(f"{rel} builds model {own!r} from {brel}, a config of model {inherited!r}")
    return problems


def test_the_configs_keep_the_layout():
    assert layout_problems(CONFIGS) == []


def test_every_entry_config_was_walked():
    """The walk reaches the shipped configs' real bases (a parse that found none would pass vacuously)."""
    depth = {str(p.relative_to(CONFIGS)): len(longest_chain(p)) - 1
             for p in CONFIGS.rglob('*.py') if '_base_' not in p.relative_to(CONFIGS).parts}
    assert depth['doei/mct_voc.py'] == 3  # -> doei-mctformer-v2 -> voc12aug_cls_224 -> voc12aug_cls
    assert depth['deeplab/deeplab_coco.py'] == 3  # -> deeplabv1 coco -> seg_coco14_pseudo -> seg_voc12aug_pseudo
    assert depth['demo/doei-tscam_vit-6l128-pre_synthetic-64.py'] == 3
    assert depth['doei_any/doei_deit-base_16xb64_in1k.py'] == 0  # mmpretrain's own base is not ours
    assert model_type(CONFIGS / 'doei/tscam_voc.py') == 'TSCAM'
    assert model_type(CONFIGS / 'demo/doei-transcam_conformer-6l128-pre_synthetic-128.py') == 'TransCAM'


def _write(root: Path, files: Dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_the_checks_catch_what_they_are_for(tmp_path):
    """A chain 4 deep, an entry inheriting another model's folder and a model type swapped
    under a base are each reported, naming the files."""
    root = _write(tmp_path / 'configs', {
        '_base_/a.py': "x = 1\n",
        '_base_/b.py': "_base_ = ['./a.py']\n",
        '_base_/models/mct.py': "model = dict(type='MCTformerV2', num_classes=20)\n",
        '_base_/models/tscam.py': "_base_ = ['./mct.py']\nmodel = dict(type='TSCAM')\n",
        'mct/mct_voc.py': "_base_ = ['../_base_/b.py', '../_base_/models/mct.py']\n",
        'mct/mct_voc_alias.py': "_base_ = './mct_voc.py'\n",
        'tscam/tscam_voc.py': "_base_ = ['../mct/mct_voc.py']\nmodel = dict(type='TSCAM')\n",
        'doei/x.py': "_base_ = ['./y.py', 'mmpretrain::deit/deit-small_4xb256_in1k.py']\n",
        'doei/y.py': "_base_ = ['./z.py']\n",
        'doei/z.py': "_base_ = ['../_base_/b.py']\n",
    })
    assert layout_problems(root) == [
        "_base_/models/tscam.py builds model 'TSCAM' from _base_/models/mct.py, a config of model 'MCTformerV2'",
        'doei/x.py: 4 levels of _base_ (at most 3): doei/x.py -> doei/y.py -> doei/z.py -> _base_/b.py -> _base_/a.py',
        "tscam/tscam_voc.py inherits mct/mct_voc.py, another model's folder (use the parts in _base_/)",
        "tscam/tscam_voc.py builds model 'TSCAM' from mct/mct_voc.py, a config of model 'MCTformerV2'",
    ]


@pytest.mark.slow
def test_doei_configs_are_their_baselines_plus_doei():
    """A DOEI config lists its baseline's parts again (inheriting the baseline's folder is
    against the layout); this keeps the two equal but for the DOEI settings, which are
    DOEIConfig's defaults (configs/_base_/doei.py reads them from it)."""
    from mmengine.config import Config

    from mmdoei.doei import DOEIConfig

    defaults = {k: v for k, v in DOEIConfig().to_dict().items() if k != 'num_class_tokens'}
    assert defaults['alpha'] == 0.35 and defaults['sf_p2c'] == -0.1  # docs/method.md, section 6
    names = sorted(p.name for p in (CONFIGS / 'doei').glob('doei-*.py'))
    assert len(names) == 9
    for name in names:
        folder = name.split('-')[1].split('_')[0]  # doei-tscam_deit-s_... -> tscam
        cfg = Config.fromfile(str(CONFIGS / 'doei' / name)).to_dict()
        base = Config.fromfile(str(CONFIGS / folder / name[len('doei-'):])).to_dict()
        assert cfg.pop('doei') == cfg['model'].pop('doei') == defaults, name
        assert cfg == base, name
