"""One model, one answer (issue 22): the notebook, the inferencer and the tool give the same CAMs,
``doei_*`` names carry DOEI through every builder, and bad inputs are named.

Everything runs as a user runs it: ONE fresh interpreter (``import mmdoei`` and
the apis, ``tools/test.py`` through its ``main``), no project fixture. The script
runs every scenario and prints a JSON of outcomes; each test asserts on its own.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(r'''
    import json, logging, runpy, sys, traceback, warnings
    from pathlib import Path

    import numpy as np
    import torch

    import mmdoei  # noqa: F401  (what a user imports)
    from mmengine.logging import MMLogger
    from mmdoei.apis import CAMInferencer, get_model, inference_cams, init_model, model_info
    from mmdoei.generators.synthetic import make_synthetic_voc

    ROOT, TMP = Path(sys.argv[1]), Path(sys.argv[2])
    out = {}


    class Capture(logging.Handler):
        def __init__(self):
            super().__init__(logging.DEBUG)
            self.lines = []

        def emit(self, record):
            self.lines.append((record.levelname, record.getMessage()))


    def logged(fn):
        """fn() and the mmengine log records it emitted."""
        logger = MMLogger.get_current_instance()
        cap = Capture()
        logger.addHandler(cap)
        try:
            return fn(), cap.lines
        finally:
            logger.removeHandler(cap)


    def scenario(name):
        def wrap(fn):
            try:
                out[name] = fn()
            except Exception as e:  # recorded: the test of this scenario shows it
                out[name] = dict(error=f'{type(e).__name__}: {e}', tb=traceback.format_exc()[-2000:])
            return fn
        return wrap


    # 3. (first, before any Runner sets up a log file) get_model is quiet unless verbose.
    @scenario('get_model_quiet')
    def _():
        quiet = logged(lambda: get_model('mctformer-v2_vit-6l128_synthvoc_demo'))[1]
        loud = logged(lambda: get_model('mctformer-v2_vit-6l128_synthvoc_demo', verbose=True))[1]
        return dict(quiet=sum(1 for lvl, _ in quiet if lvl == 'INFO'), loud=sum(1 for lvl, _ in loud if lvl == 'INFO'))

    voc = make_synthetic_voc(TMP / 'voc', num_train=3, num_val=1, img_size=(40, 56))
    CONFIGS = {
        'mctformer': str(ROOT / 'tests/data/configs/tiny_mct_voc.py'),
        'tscam': TMP / 'tscam.py',
        'transcam': TMP / 'transcam.py',
    }
    # The demo's TS-CAM and TransCAM at their authors' protocols (224 x 224 bilinear; squares + clamp_sum).
    CONFIGS['tscam'].write_text(f"_base_ = ['{ROOT}/configs/demo/tscam_vit-4l128_synthetic-64.py']\n"
                                "cam_gen = dict(_delete_=True, protocol='tscam', cam_cfg=dict(relu=False))\n")
    CONFIGS['transcam'].write_text(f"_base_ = ['{ROOT}/configs/demo/transcam_conformer-6l128_synthetic-128.py']\n"
                                   "cam_gen = dict(_delete_=True, protocol='transcam', cam_cfg=dict(relu=False))\n")
    CONFIGS = {k: str(v) for k, v in CONFIGS.items()}
    ckpts, notebook, inferencer = {}, {}, {}
    ids = (voc / 'ImageSets/Segmentation/train_aug.txt').read_text().split()
    labels_of = {}
    for line in (voc / 'ImageSets/Segmentation/cls_labels.txt').read_text().splitlines():
        parts = line.split()
        labels_of[parts[0]] = sorted(int(c) for c in parts[1:])

    # 1. One protocol: the notebook routes first (before any tool set anything up) ...
    for name, cfg in CONFIGS.items():
        @scenario(f'routes_{name}')
        def _():
            torch.manual_seed(0)
            model = init_model(cfg)
            ckpts[name] = str(TMP / f'{name}.pth')
            torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpts[name])
            model = init_model(cfg, ckpts[name])
            inf = CAMInferencer(cfg, weights=ckpts[name])
            for i in ids:
                img = str(voc / 'JPEGImages' / f'{i}.jpg')
                notebook[(name, i)] = inference_cams(model, img, labels=labels_of[i])['cams']
                inferencer[(name, i)] = inf(img, labels=labels_of[i])['predictions'][0]['cams']
            return 'ok'

    # ... then tools/test.py --cam-out, through its main as `python tools/test.py` runs it.
    for name, cfg in CONFIGS.items():
        if out.get(f'routes_{name}') != 'ok':
            continue

        @scenario(f'routes_{name}')
        def _():
            cam_dir = TMP / f'cams_{name}'
            sys.argv = ['tools/test.py', cfg, ckpts[name], '--data-root', str(voc),
                        '--work-dir', str(TMP / f'work_{name}'), '--cam-out', str(cam_dir),
                        '--cfg-options', 'cam_dataloader.dataset.split=ImageSets/Segmentation/train_aug.txt']
            try:
                runpy.run_path(str(ROOT / 'tools/test.py'), run_name='__main__')
            except SystemExit as e:
                if e.code not in (0, None):
                    raise RuntimeError(f'tools/test.py exited with {e.code}') from None
            res = {}
            for i in ids:
                with np.load(cam_dir / f'{i}.npz', allow_pickle=False) as f:
                    keys, tool = f['keys'].tolist(), f['cams'].astype(np.float32)
                nb, ci = notebook[(name, i)], inferencer[(name, i)]
                res[i] = dict(
                    keys=keys, labels=labels_of[i], shape=list(tool.shape), nb_shape=list(nb.shape),
                    # the file holds float16: the in-memory maps rounded as save_cam rounds them
                    tool_vs_notebook=float(np.abs(tool - nb.astype(np.float16).astype(np.float32)).max()),
                    notebook_vs_inferencer=float(np.abs(nb - ci).max()),
                    tool_vs_inferencer=float(np.abs(tool - ci.astype(np.float16).astype(np.float32)).max()))
            return res

    # 2. DOEI follows the name.
    def doei_summary(model, lines):
        handle = getattr(model.backbone, '_doei_handle', None)
        return dict(attn=sorted({type(m.attn).__name__ for m in model.backbone.modules()
                                 if hasattr(m, 'attn') and isinstance(m.attn, torch.nn.Module)}),
                    handle=None if handle is None else handle.cfg.to_dict(),
                    doei_lines=[msg for lvl, msg in lines if 'DOEI' in msg],
                    info_lines=sum(1 for lvl, msg in lines if lvl == 'INFO'))

    @scenario('doei_get_model')
    def _():
        return doei_summary(*logged(lambda: get_model('doei_eva02-tiny-p14_in1k')))

    @scenario('doei_mmpretrain_get_model')
    def _():
        import mmpretrain
        return doei_summary(*logged(lambda: mmpretrain.get_model('doei_eva02-tiny-p14_in1k')))

    @scenario('doei_init_model_hook_config')
    def _():
        return doei_summary(*logged(lambda: init_model(str(ROOT / 'tests/data/configs/tiny_vit_doei.py'))))

    @scenario('doei_off_equals_baseline')
    def _():
        from mmengine.hub import get_config
        from mmpretrain import get_model as mmp_get_model
        base = mmp_get_model(get_config('mmpretrain::eva02/eva02-tiny-p14_in1k.py')).eval()  # no DOEI
        on = get_model('doei_eva02-tiny-p14_in1k')
        off = get_model('doei_eva02-tiny-p14_in1k', doei=False)
        on.load_state_dict(base.state_dict())
        off.load_state_dict(base.state_dict())
        x = torch.randn(1, 3, 336, 336, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            b, y_on, y_off = base(x), on(x), off(x)
        return dict(off_vs_base=float((y_off - b).abs().max()), on_vs_base=float((y_on - b).abs().max()),
                    off_handle=getattr(off.backbone, '_doei_handle', None) is None)

    @scenario('doei_hook_not_twice')
    def _():
        from types import SimpleNamespace
        from mmdoei.doei import DOEIHook
        model = get_model('doei_eva02-tiny-p14_in1k')
        handle = model.backbone._doei_handle
        runner = SimpleNamespace(model=model, logger=MMLogger.get_current_instance())
        _, lines = logged(lambda: DOEIHook().before_run(runner))
        return dict(same_handle=model.backbone._doei_handle is handle,
                    hooks=len(handle._handles), doei_lines=[m for _, m in lines if 'DOEI attached' in m])

    @scenario('inferencer_doei_switch')
    def _():
        name = 'mctformer'
        cfg = CONFIGS[name]
        img = str(voc / 'JPEGImages' / f'{ids[0]}.jpg')
        labels = labels_of[ids[0]]
        # The tiny config is configs/doei/mct_voc.py's: DOEI on by its model.doei.
        base = inference_cams(init_model(cfg, ckpts[name], doei=False), img, labels=labels)['cams']
        configured = init_model(cfg, ckpts[name])
        on = CAMInferencer(configured)(img, labels=labels)['predictions'][0]['cams']
        off = CAMInferencer(configured, doei=False)(img, labels=labels)['predictions'][0]['cams']
        plain = init_model(cfg, ckpts[name], doei=False)
        switched = CAMInferencer(plain, doei=dict())(img, labels=labels)['predictions'][0]['cams']
        cfg_on = CAMInferencer(cfg, weights=ckpts[name], doei=dict())(img, labels=labels)['predictions'][0]['cams']
        cfg_off = CAMInferencer(cfg, weights=ckpts[name], doei=False)(img, labels=labels)['predictions'][0]['cams']
        return dict(off_vs_base=float(np.abs(off - base).max()), on_vs_base=float(np.abs(on - base).max()),
                    cfg_off_vs_base=float(np.abs(cfg_off - base).max()),
                    switched_vs_on=float(np.abs(switched - on).max()), cfg_on_vs_on=float(np.abs(cfg_on - on).max()),
                    plain_left_alone=getattr(plain.backbone, '_doei_handle', None) is None,
                    configured_left_alone=configured.backbone._doei_handle.enabled)

    @scenario('inferencer_refuses_non_cam_model')
    def _():
        try:
            CAMInferencer(get_model('doei_eva02-tiny-p14_in1k'))
        except Exception as e:
            return f'{type(e).__name__}: {e}'
        return 'accepted'

    # 3. Clear errors.
    @scenario('folder_skips_non_images')
    def _():
        folder = TMP / 'mixed'
        folder.mkdir()
        for i in ids[:2]:
            (folder / f'{i}.jpg').write_bytes((voc / 'JPEGImages' / f'{i}.jpg').read_bytes())
        (folder / 'README.txt').write_text('not an image')
        (folder / 'notes.csv').write_text('a,b')
        inf = CAMInferencer(CONFIGS['mctformer'], weights=ckpts['mctformer'])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            res = inf(str(folder), show_dir=str(TMP / 'mixed_vis'))
        return dict(n=len(res['predictions']), warnings=[str(w.message) for w in caught if 'skipped' in str(w.message)],
                    pngs=sorted(p.name for p in (TMP / 'mixed_vis').iterdir()))

    @scenario('folder_without_images')
    def _():
        folder = TMP / 'no_images'
        folder.mkdir()
        (folder / 'README.txt').write_text('x')
        try:
            CAMInferencer(CONFIGS['mctformer'], weights=ckpts['mctformer'])(str(folder))
        except Exception as e:
            return dict(error=f'{type(e).__name__}: {e}', folder=str(folder))
        return 'accepted'

    for tag, labels in (('names', ['bird', 'cat']), ('unknown_name', ['birdd']), ('index_out', [25]),
                        ('mixed', [2, 'cat'])):
        @scenario(f'labels_{tag}')
        def _():
            inf = CAMInferencer(CONFIGS['mctformer'], weights=ckpts['mctformer'])
            img = str(voc / 'JPEGImages' / f'{ids[0]}.jpg')
            try:
                pred = inf(img, labels=labels)['predictions'][0]
            except Exception as e:
                return f'{type(e).__name__}: {e}'
            nb = inference_cams(init_model(CONFIGS['mctformer'], ckpts['mctformer']), img, labels=labels)
            return dict(labels=[int(c) for c in pred['labels']], notebook_labels=nb['labels'],
                        diff=float(np.abs(nb['cams'] - pred['cams']).max()))

    for tag, name in (('first_token', 'mctfromer-v2_deit-s_voc12aug_authors'),
                      ('last_token', 'mctformer-v2_deit-s_voc12aug_autors'),
                      ('middle_token', 'doei_eva02-tiny-p41_in1k')):
        @scenario(f'typo_{tag}')
        def _():
            try:
                model_info(name)
            except ValueError as e:
                return str(e)
            return 'found'

    print('RESULT ' + json.dumps(out))
''')


@pytest.fixture(scope='module')
def outcome(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('one_answer')
    script = tmp / 'scenarios.py'
    script.write_text(SCRIPT)
    proc = subprocess.run([sys.executable, str(script), str(ROOT), str(tmp)], cwd=ROOT, env=os.environ,
                          capture_output=True, text=True, timeout=1500)
    lines = [line for line in proc.stdout.splitlines() if line.startswith('RESULT ')]
    assert proc.returncode == 0 and lines, (proc.stdout[-3000:] + proc.stderr[-3000:])
    return json.loads(lines[-1][len('RESULT '):])


def _ok(res):
    assert not (isinstance(res, dict) and 'error' in res and 'tb' in res), res
    return res


@pytest.mark.slow
@pytest.mark.parametrize('name', ['mctformer', 'tscam', 'transcam'])
def test_three_routes_give_the_same_cams(outcome, name):
    """tools/test.py --cam-out, inference_cams and CAMInferencer: the same maps at the config's protocol."""
    res = _ok(outcome[f'routes_{name}'])
    assert res != 'ok', 'tools/test.py did not run'
    assert len(res) == 3
    for img_id, r in res.items():
        assert r['keys'] == r['labels'] and r['shape'] == r['nb_shape'] == [len(r['labels']), 40, 56]
        assert r['tool_vs_notebook'] <= 1e-6, (img_id, r)
        assert r['tool_vs_inferencer'] <= 1e-6, (img_id, r)
        assert r['notebook_vs_inferencer'] <= 1e-6, (img_id, r)


@pytest.mark.slow
@pytest.mark.parametrize('route', ['doei_get_model', 'doei_mmpretrain_get_model'])
def test_doei_names_carry_doei(outcome, route):
    res = _ok(outcome[route])
    assert res['attn'] == ['DOEIEVA02Attention']
    assert res['handle'] is not None and res['handle']['alpha'] == 0.35 and res['handle']['layers'] is None
    assert len(res['doei_lines']) == 1
    assert res['doei_lines'][0].startswith('DOEI attached to ViTEVA02 (mmpretrain AttentionWithRoPE attention, '
                                           'adapter DOEIEVA02Attention): 12 of 12 blocks, C=1')


@pytest.mark.slow
def test_init_model_attaches_the_configs_doei_hook(outcome):
    res = _ok(outcome['doei_init_model_hook_config'])
    assert res['attn'] == ['DOEIAttention'] and res['handle']['st_p2c'] == 0.05  # the hook's setting
    assert len(res['doei_lines']) == 1 and "(the config's DOEIHook)" in res['doei_lines'][0]


@pytest.mark.slow
def test_doei_off_is_the_baseline_exactly(outcome):
    res = _ok(outcome['doei_off_equals_baseline'])
    assert res['off_vs_base'] == 0.0 and res['off_handle']
    assert res['on_vs_base'] > 1e-3  # DOEI on does change the outputs


@pytest.mark.slow
def test_hook_does_not_attach_twice(outcome):
    res = _ok(outcome['doei_hook_not_twice'])
    assert res['same_handle'] and res['doei_lines'] == []
    assert res['hooks'] == 1 + 1 + 12  # backbone pre-hook, patch embedding, one per block: once


@pytest.mark.slow
def test_inferencer_switches_doei(outcome):
    res = _ok(outcome['inferencer_doei_switch'])
    assert res['off_vs_base'] == 0.0 and res['cfg_off_vs_base'] == 0.0 and res['on_vs_base'] > 1e-3
    assert res['switched_vs_on'] == 0.0 and res['cfg_on_vs_on'] == 0.0  # mct_voc's DOEI is the defaults
    assert res['plain_left_alone'] and res['configured_left_alone']


@pytest.mark.slow
def test_inferencer_refuses_a_model_without_cams(outcome):
    msg = outcome['inferencer_refuses_non_cam_model']
    assert msg.startswith('TypeError: CAMInferencer: ImageClassifier computes no CAMs')
    assert 'mctformer-v2_deit-s_voc12aug_authors' in msg and 'tscam_deit-s_voc12aug' in msg
    assert 'doei_eva02-tiny-p14_in1k' not in msg


@pytest.mark.slow
def test_folder_takes_images_only_and_names_the_skipped(outcome):
    res = _ok(outcome['folder_skips_non_images'])
    assert res['n'] == 2 and len(res['pngs']) == 2
    assert len(res['warnings']) == 1
    assert "skipped 2 file(s) that are not images (by extension): ['README.txt', 'notes.csv']" in res['warnings'][0]
    res = outcome['folder_without_images']
    assert res['error'].startswith(f"FileNotFoundError: {res['folder']}: no image file in this folder")
    assert "['README.txt']" in res['error']


@pytest.mark.slow
def test_labels_by_name_or_index(outcome):
    assert _ok(outcome['labels_names'])['labels'] == [2, 7] == outcome['labels_names']['notebook_labels']
    assert outcome['labels_names']['diff'] == 0.0
    assert _ok(outcome['labels_mixed'])['labels'] == [2, 7]
    for tag, value in (('unknown_name', "'birdd'"), ('index_out', 'class index 25 out of range 0..19')):
        msg = outcome[f'labels_{tag}']
        assert msg.startswith('ValueError: ') and value in msg, msg
        assert '2=bird' in msg and '19=tvmonitor' in msg


@pytest.mark.slow
@pytest.mark.parametrize('tag, expected', [('first_token', 'mctformer-v2_deit-s_voc12aug_authors'),
                                           ('last_token', 'mctformer-v2_deit-s_voc12aug_authors'),
                                           ('middle_token', 'doei_eva02-tiny-p14_in1k')])
def test_zoo_typo_gets_suggestions(outcome, tag, expected):
    msg = outcome[f'typo_{tag}']
    assert 'in the mmdoei zoo; similar: [' in msg and f"'{expected}'" in msg, msg


@pytest.mark.slow
def test_get_model_is_quiet_by_default(outcome):
    res = _ok(outcome['get_model_quiet'])
    assert res['quiet'] == 0 and res['loud'] > 20, res
