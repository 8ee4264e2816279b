"""The zoo's metafiles: every entry listed, every config builds, every URL verifiable or explained."""
import re
import urllib.parse
from pathlib import Path

import pytest
import yaml
from torch import nn

from mmdoei.apis import get_model, init_model, list_models, model_info
from mmdoei.apis.hub import CONVERTERS, load_model_index, resolve_model, zoo_table
from mmdoei.utils.download import hash_prefix_of, is_drive_url
from .conftest import ROOT

METAFILES = sorted(ROOT.glob('configs/*/metafile.yml'))


def _entries():
    out = []
    for path in METAFILES:
        out += [(path, m) for m in yaml.safe_load(path.read_text())['Models']]
    return out


def test_every_algorithm_folder_has_a_metafile_in_the_index():
    folders = {p.name for p in (ROOT / 'configs').iterdir() if p.is_dir() and p.name != '_base_'}
    assert {p.parent.name for p in METAFILES} == folders
    index = yaml.safe_load((ROOT / 'model-index.yml').read_text())
    assert sorted(index['Import']) == sorted(str(p.relative_to(ROOT)) for p in METAFILES)


def test_list_models_lists_every_entry():
    names = [m['Name'] for _, m in _entries()]
    assert len(names) == len(set(names))
    assert set(names) <= set(list_models())
    assert list_models('mctformer-v2') == ['mctformer-v2_deit-s_coco14_authors', 'mctformer-v2_deit-s_voc12aug_authors',
                                           'mctformer-v2_vit-6l128_synthvoc_demo']
    with pytest.raises(ValueError, match="no model named 'mctformer-v3'"):
        model_info('mctformer-v3')


@pytest.mark.slow
def test_every_config_exists_and_builds():
    built = {}
    for path, m in _entries():
        config = ROOT / m['Config']
        assert config.is_file(), f'{path}: {m["Name"]}: no config {m["Config"]}'
        if config not in built:
            model = get_model(m['Name'])  # no weights: nothing is downloaded
            assert isinstance(model, nn.Module) and not model.training
            built[config] = type(model).__name__
    assert built[ROOT / 'configs/mctformer/mctformer-v2_deit-s_1xb64-60e_voc12aug-224.py'] == 'MCTformerV2'
    assert built[ROOT / 'configs/transcam/transcam_conformer-s_1xb8-20e_voc12aug-512.py'] == 'TransCAM'
    assert built[ROOT / 'configs/deeplab/deeplabv1-largefov_resnet38d_1xb4-79k_voc12aug-321x321.py'] == \
        'EncoderDecoder'


def test_every_weights_url_is_verifiable_or_says_why_not():
    for path, m in _entries():
        where = f'{path.relative_to(ROOT)}: {m["Name"]}'
        url = m.get('Weights')
        if url is None:
            assert m.get('Weights Note', '').startswith('no'), f'{where}: no Weights and no reason'
            continue
        assert urllib.parse.urlparse(url).scheme == 'https', where
        if is_drive_url(url):
            # Drive: the direct-download form, the link the authors publish, and the reason for no hash
            file_id = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)['id'][0]
            assert url == f'https://drive.google.com/uc?export=download&id={file_id}', where
            assert file_id in m['Converted From']['Weights'], where
            assert 'no hash in its name' in m['Weights Note'], where
        else:
            name = url.rsplit('/', 1)[1]
            if m.get('Published') is False:  # the release does not exist: said so, never requested
                assert 'not live yet' in m['Weights Note'], where
            else:
                assert hash_prefix_of(name), f'{where}: {url} has no hash prefix'
        if 'Converter' in m:
            assert m['Converter'] in CONVERTERS, where
            assert (ROOT / 'tools/model_converters' / f'{m["Converter"]}.py').is_file(), where
        assert m.get('Results Note'), f'{where}: say where the Results come from'


def test_init_entries_load_into_the_backbone():
    cfg, checkpoint = resolve_model('deit-s_3rdparty_in1k_init', pretrained=True)
    assert checkpoint is None
    assert cfg.model.backbone.init_cfg == dict(
        type='Pretrained', checkpoint='https://dl.fbaipublicfiles.com/deit/deit_small_patch16_224-cd65a155.pth')
    with pytest.raises(ValueError, match='has no weights to download: no torch weights'):
        get_model('resnet38d_3rdparty_in1k_init', pretrained=True)
    with pytest.raises(ValueError, match='has no weights to download: no weights; TS-CAM'):
        get_model('tscam_deit-s_voc12aug', pretrained=True)


def test_mmpretrain_sees_the_zoo():
    import mmpretrain
    from mmpretrain.apis.model import ModelHub
    assert 'tscam_deit-s_voc12aug' in mmpretrain.list_models('tscam')
    model = mmpretrain.get_model('tscam_deit-s_voc12aug')
    assert type(model).__name__ == 'TSCAM'
    # initialisations are not whole-model weights: mmpretrain gets none for them
    assert ModelHub.get('deit-s_3rdparty_in1k_init').weights is None
    assert ModelHub.get('mctformer-v2_deit-s_voc12aug_authors').weights == \
        model_info('mctformer-v2_deit-s_voc12aug_authors')['Weights']


def test_init_model_accepts_a_name(tmp_path):
    import torch
    ref = get_model('tscam_deit-s_voc12aug')
    torch.save({'state_dict': ref.state_dict()}, tmp_path / 'tscam.pth')
    model = init_model('tscam_deit-s_voc12aug', str(tmp_path / 'tscam.pth'))
    assert type(model).__name__ == 'TSCAM'
    assert Path(model.cfg.filename) == ROOT / 'configs/tscam/tscam_deit-s_1xb64-60e_voc12aug-224.py'
    torch.testing.assert_close(model.state_dict(), ref.state_dict())


def test_docs_zoo_table_is_generated_from_the_metafiles():
    readme = (ROOT / 'docs/user_guides/model_zoo.md').read_text()
    m = re.search(r'<!-- zoo-table: generated by mmdoei\.apis\.hub\.zoo_table\(\) -->\n(.*?)<!-- /zoo-table -->',
                  readme, re.S)
    assert m, 'docs/user_guides/model_zoo.md has no generated model-zoo table'
    assert m.group(1) == zoo_table()
    table = zoo_table()
    assert len(table.strip().splitlines()) == 2 + len(load_model_index())
    assert '| `mctformer-v2_deit-s_voc12aug_authors` | `configs/mctformer/mctformer-v2_deit-s_1xb64-60e_' \
        'voc12aug-224.py` | PASCAL VOC 2012 aug | 61.7 | 69.1 | 70.2 | DOEI paper, Tables 1 and 2 | ' in table
