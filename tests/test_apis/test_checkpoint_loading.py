"""One safe loading path for checkpoints, and a strict fit (issues 21 and 22), as a user meets them.

Every scenario runs in ONE fresh interpreter (a module-scoped fixture), with only
``import mmdoei`` (no ``setup_env()``, no conftest); the hostile file is loaded
with ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` set, the variable that makes torch
unpickle fully wherever the caller left ``weights_only`` to torch's default:

- a checkpoint that mmengine's Runner wrote (message hub included) loads through
  ``init_model``, ``get_model``, ``CAMInferencer`` and ``CheckpointLoader``;
- a checkpoint that pickles ``os.system`` is refused on every path, a hand-built
  Runner's ``load_from`` and ``resume`` included, and its code never runs;
- a checkpoint of another model (other keys; mis-shaped, missing and extra keys)
  is refused with a message that names the file, the counts, a key and the flag,
  and loads with ``partial=True`` unless not one tensor matches;
- ``CAMInferencer(None, weights=...)`` says what to give;
- ``publish_model.py`` leaves no config text (which inferencers execute) in meta,
  whatever its key or nesting: only an allow-list of plain entries stays.
"""
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = str(ROOT / 'tests/data/configs/tiny_mct_voc.py')

SCRIPT = textwrap.dedent(r'''
    import json, os, sys, traceback
    from pathlib import Path
    tmp, data_root, marker = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    TINY = sys.argv[4]
    out = {}

    import torch
    import mmdoei  # what a notebook user imports; no setup_env()
    from mmdoei.utils.compat import checkpoint_safe_globals
    allowed = torch.serialization.get_safe_globals()
    out['globals_untouched'] = not any(g in allowed for g in checkpoint_safe_globals())

    def attempt(name, fn):
        try:
            fn()
            out[name] = dict(ok=True)
        except BaseException as e:  # the outcome under test, whatever it is
            out[name] = dict(ok=False, type=type(e).__name__, msg=str(e), tb=traceback.format_exc()[-1500:])

    # A real training checkpoint: mmengine's Runner, one epoch (meta with cfg text, message hub).
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(TINY)
    cfg.work_dir = str(tmp / 'train')
    cfg.train_cfg.max_epochs = 1
    cfg.param_scheduler[0]['end'] = 1
    cfg.log_level = 'WARNING'
    from mmdoei.apis.config_surgery import set_data_root
    set_data_root(cfg, data_root)
    Runner.from_cfg(cfg).train()
    own = str(tmp / 'train' / 'epoch_1.pth')
    from mmdoei.utils.download import safe_torch_load
    raw = safe_torch_load(own)  # to look at what the Runner saved
    out['own_has_message_hub'] = 'message_hub' in raw and 'cfg' in raw['meta']
    state = raw['state_dict']
    key = 'backbone.layers.0.attn.qkv.weight'

    from mmdoei.apis import CAMInferencer, get_model, init_model
    from mmengine.runner import CheckpointLoader

    def same_weights(model):
        return bool(torch.equal(model.state_dict()[key], state[key]))

    def record(name, fn):
        attempt(name, lambda: out.__setitem__(name + '_result', fn()))

    record('own_init_model', lambda: same_weights(init_model(TINY, own)))
    record('own_get_model', lambda: same_weights(get_model(TINY, pretrained=own)))
    record('own_inferencer', lambda: same_weights(CAMInferencer(TINY, weights=own).model))
    record('own_loader', lambda: sorted(CheckpointLoader.load_checkpoint(own)))

    # A file that runs os.system when unpickled in full, loaded where torch is told to unpickle in
    # full whenever the caller did not choose (torch reads the variable at every load).
    os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] = '1'
    class RunsCode:
        def __reduce__(self):
            return os.system, (f'touch {marker}', )

    evil = str(tmp / 'evil.pth')
    torch.save({'state_dict': RunsCode(), 'meta': {}}, evil)

    def runner_with(**kw):
        c = Config.fromfile(TINY)
        c.work_dir = str(tmp / 'evil_runner')
        c.log_level = 'WARNING'
        c.merge_from_dict(kw)
        Runner.from_cfg(c).load_or_resume()

    attempt('evil_init_model', lambda: init_model(TINY, evil))
    attempt('evil_get_model', lambda: get_model(TINY, pretrained=evil))
    attempt('evil_inferencer', lambda: CAMInferencer(TINY, weights=evil))
    attempt('evil_runner_load_from', lambda: runner_with(load_from=evil))
    attempt('evil_runner_resume', lambda: runner_with(load_from=evil, resume=True))
    attempt('evil_loader', lambda: CheckpointLoader.load_checkpoint(evil))
    # open-mmlab:// names a file under $MMENGINE_HOME: mmengine's branch for it calls torch.load too
    home = tmp / 'mmengine_home'
    home.mkdir()
    (home / 'open_mmlab.json').write_text(json.dumps({'evil_model': 'evil.pth'}))
    (home / 'evil.pth').write_bytes(Path(evil).read_bytes())
    os.environ['MMENGINE_HOME'] = str(home)
    attempt('evil_openmmlab', lambda: CheckpointLoader.load_checkpoint('open-mmlab://evil_model'))
    out['marker_exists'] = marker.exists()
    del os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD']
    # ... and the file is hostile indeed: a full unpickling runs its code.
    torch.load(evil, weights_only=False)
    out['evil_runs_code_when_unpickled'] = marker.exists()

    # Checkpoints of other models.
    other = str(tmp / 'other.pth')  # e.g. a DeepLab checkpoint: none of the keys
    torch.save({'state_dict': {'backbone.conv1a.weight': torch.zeros(64, 3, 3, 3),
                               'decode_head.conv_seg.weight': torch.zeros(21, 1024, 1, 1)}}, other)
    shaped = dict(state)
    shaped[key] = torch.zeros(7, 32)            # mis-shaped
    del shaped['backbone.cls_token']             # missing
    shaped['backbone.layers.2.ln1.weight'] = torch.zeros(32)  # unexpected (a deeper model's)
    mis = str(tmp / 'misshaped.pth')
    torch.save({'state_dict': shaped, 'meta': {}}, mis)
    for tag, path in (('other', other), ('mis', mis)):
        attempt(f'{tag}_init_model', lambda: init_model(TINY, path))
        attempt(f'{tag}_get_model', lambda: get_model(TINY, pretrained=path))
        attempt(f'{tag}_inferencer', lambda: CAMInferencer(TINY, weights=path))
    kept = 'backbone.layers.1.attn.proj.weight'
    record('mis_partial_init_model', lambda: bool(torch.equal(init_model(TINY, mis, partial=True).state_dict()[kept],
                                                              state[kept])))
    attempt('mis_partial_get_model', lambda: get_model(TINY, pretrained=mis, partial=True))
    # partial of a checkpoint that matches nothing: the model as initialised, under the checkpoint's name
    attempt('other_partial_init_model', lambda: init_model(TINY, other, partial=True))
    attempt('other_partial_get_model', lambda: get_model(TINY, pretrained=other, partial=True))
    attempt('mis_partial_inferencer', lambda: CAMInferencer(TINY, weights=mis, partial=True))

    attempt('none_inferencer', lambda: CAMInferencer(None, weights=own))

    # publish_model.py: training state and config text gone, harmless meta kept.
    sys.path.insert(0, str(Path.cwd() / 'tools' / 'model_converters'))
    import publish_model

    def publish():
        published = safe_torch_load(publish_model.publish(own, str(tmp / 'release' / 'tiny.pth')))
        meta = published['meta']
        return dict(keys=sorted(published), meta_keys=sorted(meta), raw_meta_keys=sorted(raw['meta']),
                    cfg_text=any(isinstance(v, str) and 'model = dict' in v for v in meta.values()),
                    epoch=meta.get('epoch'), dataset_meta=meta.get('dataset_meta') == raw['meta'].get('dataset_meta'))
    record('publish', publish)

    # ... and config text under any other name, or nested, goes too: meta keeps an allow-list of plain data.
    planted = dict(raw, meta=dict(raw['meta'], mmdoei_config="import os; os.system('touch pwned')",
                                  notes={'cfg': 'model = dict(type="X")'},
                                  dataset_meta=dict(raw['meta']['dataset_meta'], cfg='import os; os.getcwd()',
                                                    nested={'config': 'x = 1'})))
    torch.save(planted, tmp / 'planted.pth')

    def publish_planted():
        meta = safe_torch_load(publish_model.publish(str(tmp / 'planted.pth'), str(tmp / 'release' / 'p.pth')))['meta']
        return dict(meta_keys=sorted(meta), dataset_meta_keys=sorted(meta.get('dataset_meta', {})),
                    raw_dataset_meta_keys=sorted(raw['meta']['dataset_meta']),
                    text=[v for v in map(repr, meta.values()) if 'import' in v or 'dict(' in v or '= 1' in v])
    record('publish_planted', publish_planted)
    print('RESULT' + json.dumps(out))
''')


@pytest.fixture(scope='module')
def outcomes(synthetic_voc, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('loading')
    marker = tmp / 'code_ran'
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)  # as torch is by default; the script sets it for one part
    res = subprocess.run([sys.executable, '-c', SCRIPT, str(tmp), str(synthetic_voc), str(marker), TINY],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-5000:]
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith('RESULT'))
    out = json.loads(line[len('RESULT'):])
    out['tmp'] = tmp
    out['marker'] = marker
    return out


def _ok(out, name):
    assert out[name]['ok'], out[name].get('tb')


pytestmark = pytest.mark.slow


def test_import_adds_nothing_to_torchs_allow_list(outcomes):
    assert outcomes['globals_untouched']


@pytest.mark.parametrize('path', ['init_model', 'get_model', 'inferencer', 'loader'])
def test_own_training_checkpoint_loads_without_setup_env(outcomes, path):
    assert outcomes['own_has_message_hub']  # a real Runner checkpoint: HistoryBuffer, numpy, cfg text
    _ok(outcomes, f'own_{path}')
    if path == 'loader':
        assert outcomes['own_loader_result'] == ['message_hub', 'meta', 'optimizer', 'param_schedulers',
                                                 'state_dict']
    else:
        assert outcomes[f'own_{path}_result'] is True


@pytest.mark.parametrize('path', ['init_model', 'get_model', 'inferencer', 'runner_load_from', 'runner_resume',
                                  'loader', 'openmmlab'])
def test_pickled_code_is_refused_on_every_path(outcomes, path):
    res = outcomes[f'evil_{path}']
    evil = str(outcomes['tmp'] / ('mmengine_home/evil.pth' if path == 'openmmlab' else 'evil.pth'))
    assert not res['ok']
    assert res['type'] == 'ValueError', res['tb']
    assert res['msg'].startswith(f'{evil}: cannot load as a checkpoint (')
    assert 'UnpicklingError: Trying to load unsupported GLOBAL posix.system' in res['msg']
    assert 'weights_only=True' in res['msg'] and 'weights_only=False' not in res['msg']
    assert 'add_safe_globals' not in res['msg']  # no advice to allow the file's callable
    assert outcomes['marker_exists'] is False  # after all seven
    assert outcomes['evil_runs_code_when_unpickled'] is True


@pytest.mark.parametrize('path', ['init_model', 'get_model', 'inferencer'])
def test_checkpoint_of_another_model_is_refused(outcomes, path):
    other = str(outcomes['tmp'] / 'other.pth')
    res = outcomes[f'other_{path}']
    assert not res['ok'] and res['type'] == 'ValueError', res.get('tb')
    msg = res['msg']
    assert msg.startswith(f'{other} does not fit MCTformerV2: ')
    assert 'tensors missing (e.g. backbone.cls_token, backbone.pos_embed, ' in msg
    assert '2 unexpected (e.g. backbone.conv1a.weight, decode_head.conv_seg.weight)' in msg
    assert '(0 of ' in msg and 'Pass partial=True to load the matching tensors anyway' in msg


@pytest.mark.parametrize('path', ['init_model', 'get_model', 'inferencer'])
def test_misshaped_checkpoint_is_refused(outcomes, path):
    mis = str(outcomes['tmp'] / 'misshaped.pth')
    res = outcomes[f'mis_{path}']
    assert not res['ok'] and res['type'] == 'ValueError', res.get('tb')
    msg = res['msg']
    assert msg.startswith(f'{mis} does not fit MCTformerV2: 1 of the model\'s ')
    assert 'tensors missing (e.g. backbone.cls_token)' in msg
    assert '1 unexpected (e.g. backbone.layers.2.ln1.weight)' in msg
    assert '1 mis-shaped (e.g. backbone.layers.0.attn.qkv.weight: checkpoint (7, 32), model (96, 32))' in msg
    assert 'Pass partial=True' in msg


def test_partial_loads_the_matching_tensors(outcomes):
    for name in ('mis_partial_init_model', 'mis_partial_get_model', 'mis_partial_inferencer'):
        _ok(outcomes, name)
    assert outcomes['mis_partial_init_model_result'] is True


@pytest.mark.parametrize('path', ['init_model', 'get_model'])
def test_partial_refuses_a_checkpoint_that_matches_nothing(outcomes, path):
    other = str(outcomes['tmp'] / 'other.pth')
    res = outcomes[f'other_partial_{path}']
    assert not res['ok'] and res['type'] == 'ValueError', res.get('tb')
    assert res['msg'].startswith(f'{other} does not fit MCTformerV2: ')
    assert re.search(r' \(0 of \d+ tensors match\)\. Not one of its tensors fits, so even partial=True would '
                     'load nothing and leave the model as initialised; is it the checkpoint of another model or '
                     r'config\?$', res['msg']), res['msg']


def test_inferencer_without_a_model_says_what_to_give(outcomes):
    res = outcomes['none_inferencer']
    assert not res['ok'] and res['type'] == 'ValueError', res.get('tb')
    assert res['msg'].startswith('CAMInferencer needs the model as a zoo name, a config file or a Config')
    assert str(outcomes['tmp'] / 'train' / 'epoch_1.pth') in res['msg']
    assert 'config text inside a checkpoint' in res['msg']


def test_published_checkpoint_has_no_config_text(outcomes):
    _ok(outcomes, 'publish')
    pub = outcomes['publish_result']
    assert 'cfg' in pub['raw_meta_keys']  # the Runner saved its config as Python text
    assert pub['keys'] == ['meta', 'state_dict']
    assert 'cfg' not in pub['meta_keys'] and not pub['cfg_text']
    assert pub['epoch'] == 1 and pub['dataset_meta'] is True
    assert set(pub['raw_meta_keys']) == {'cfg', 'dataset_meta', 'epoch', 'experiment_name', 'iter',
                                         'mmengine_version', 'seed', 'time'}
    assert pub['meta_keys'] == ['dataset_meta', 'epoch', 'experiment_name', 'iter', 'mmengine_version', 'seed',
                                'time']


def test_published_checkpoint_keeps_only_allowed_meta(outcomes):
    """meta['mmdoei_config'] (one line of Python), a nested 'cfg' and config keys inside dataset_meta all go."""
    _ok(outcomes, 'publish_planted')
    pub = outcomes['publish_planted_result']
    assert pub['meta_keys'] == ['dataset_meta', 'epoch', 'experiment_name', 'iter', 'mmengine_version', 'seed',
                                'time']
    assert pub['dataset_meta_keys'] == pub['raw_dataset_meta_keys'] and 'classes' in pub['dataset_meta_keys']
    assert pub['text'] == []


def test_test_tool_refuses_another_models_checkpoint(outcomes, synthetic_voc, tmp_path):
    """tools/test.py --cam-out --eval-seeds: exit 1 before any CAM; --partial-load runs."""
    other = outcomes['tmp'] / 'other.pth'

    def cmd(ckpt, name, *extra):
        return [sys.executable, 'tools/test.py', TINY, str(ckpt), '--data-root', str(synthetic_voc),
                '--work-dir', str(tmp_path / f'{name}_work'), '--cam-out', str(tmp_path / name), '--eval-seeds',
                *extra]

    env = dict(os.environ, OMP_NUM_THREADS='1')
    # both runs side by side (own folders): one thread each
    procs = [subprocess.Popen(c, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for c in (cmd(other, 'refused'),
                       # --partial-load of a checkpoint that matches in part (one that matches nothing is
                       # refused even then)
                       cmd(outcomes['tmp'] / 'misshaped.pth', 'partial', '--partial-load'))]
    try:
        (_, refused_err), (partial_out, partial_err) = [p.communicate(timeout=600) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    assert procs[0].returncode != 0
    assert f'ValueError: {other} does not fit MCTformerV2: ' in refused_err, refused_err[-3000:]
    assert '2 unexpected (e.g. backbone.conv1a.weight, decode_head.conv_seg.weight)' in refused_err
    assert 'Pass --partial-load to load the matching tensors anyway' in refused_err
    assert not list((tmp_path / 'refused').glob('*.npz'))
    assert procs[1].returncode == 0, partial_err[-3000:]
    assert 'loading the matching tensors only (--partial-load)' in partial_out + partial_err
    assert len(list((tmp_path / 'partial').glob('*.npz'))) == 30  # cam_dataloader: the synthetic train split
