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
    from mmdoei.doei import doei_handle
    from PIL import Image

    ROOT, TMP = Path(sys.argv[1]), Path(sys.argv[2])
    sys.path.insert(0, str(ROOT))  # the test images' generator is the repository's projects/, not the package
    from projects.wsss_lab.synthetic import make_synthetic_voc
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
    # The shipped photo joins the routes (a cat, 300 x 451): TransCAM's CAMs of it at 256/512/768 differed
    # between a one-thread notebook and the tool's two threads (the config's NumThreadsHook) on 4% of pixels.
    (voc / 'JPEGImages/chelsea.jpg').write_bytes((ROOT / 'demo/chelsea.jpg').read_bytes())
    Image.fromarray(np.full((300, 451), 8, np.uint8), 'P').save(voc / 'SegmentationClassAug/chelsea.png')
    (voc / 'Annotations').mkdir(exist_ok=True)
    (voc / 'Annotations/chelsea.xml').write_text('<annotation><filename>chelsea.jpg</filename><object><name>cat'
                                                 '</name></object></annotation>')
    with open(voc / 'ImageSets/Segmentation/cls_labels.txt', 'a') as f:
        f.write('chelsea 7\n')
    labels_of['chelsea'] = [7]
    route_ids = ids + ['chelsea']
    (voc / 'ImageSets/Segmentation/routes.txt').write_text('\n'.join(route_ids) + '\n')
    # A user's process with one intra-op thread (OMP_NUM_THREADS=1, a busy machine): the notebook and the
    # inferencer must still give the tool's maps.
    user_threads = torch.get_num_threads()
    torch.set_num_threads(1)

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
            for i in route_ids:
                img = str(voc / 'JPEGImages' / f'{i}.jpg')
                notebook[(name, i)] = inference_cams(model, img, labels=labels_of[i])['cams']
                if i != 'chelsea':  # (7 s for TransCAM; the inferencer calls inference_cams, compared above)
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
                        '--cfg-options', 'cam_dataloader.dataset.split=ImageSets/Segmentation/routes.txt']
            try:
                runpy.run_path(str(ROOT / 'tools/test.py'), run_name='__main__')
            except SystemExit as e:
                if e.code not in (0, None):
                    raise RuntimeError(f'tools/test.py exited with {e.code}') from None
            res = {}
            for i in route_ids:
                with np.load(cam_dir / f'{i}.npz', allow_pickle=False) as f:
                    keys, tool = f['keys'].tolist(), f['cams'].astype(np.float32)
                nb, ci = notebook[(name, i)], inferencer.get((name, i))
                res[i] = dict(
                    keys=keys, labels=labels_of[i], shape=list(tool.shape), nb_shape=list(nb.shape),
                    # the file holds float16: the in-memory maps rounded as save_cam rounds them
                    tool_vs_notebook=float(np.abs(tool - nb.astype(np.float16).astype(np.float32)).max()),
                    # in memory, float32 against float32
                    notebook_vs_inferencer=None if ci is None else float(np.abs(nb - ci).max()),
                    tool_vs_inferencer=None if ci is None else float(
                        np.abs(tool - ci.astype(np.float16).astype(np.float32)).max()),
                    threads=torch.get_num_threads())
            return res

    torch.set_num_threads(user_threads)

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

    # 4. Two inferencers on one model, from two threads (DOEI off / on): each gets its own CAMs, and the
    # model is left as it was (the user's handle still the model's).
    @scenario('switch_threads')
    def _():
        import threading
        model = init_model(CONFIGS['mctformer'], ckpts['mctformer'])  # DOEI on by its config
        h0 = doei_handle(model)
        cfg0 = h0.cfg.to_dict()
        img, labels = str(voc / 'JPEGImages' / f'{ids[0]}.jpg'), labels_of[ids[0]]
        infs = dict(off=CAMInferencer(model, doei=False), on=CAMInferencer(model, doei=dict(alpha=0.9)))
        seq = {k: inf(img, labels=labels)['predictions'][0]['cams'] for k, inf in infs.items()}
        after_on = dict(same=doei_handle(model) is h0, cfg=h0.cfg.to_dict() == cfg0, enabled=h0.enabled)
        errors, wrong = [], []

        def work(name):
            for _ in range(6):
                try:
                    cams = infs[name](img, labels=labels)['predictions'][0]['cams']
                    if not np.array_equal(cams, seq[name]):
                        wrong.append(name)
                except Exception as e:
                    errors.append(f'{type(e).__name__}: {e}')

        threads = [threading.Thread(target=work, args=(k, )) for k in infs]
        [t.start() for t in threads]
        [t.join() for t in threads]
        res = dict(off_vs_on=float(np.abs(seq['off'] - seq['on']).max()), after_on=after_on, errors=errors[:3],
                   wrong=len(wrong), after_threads=doei_handle(model) is h0 and h0.cfg.to_dict() == cfg0)
        h0.remove()  # the handle taken before still removes DOEI
        plain = CAMInferencer(model)(img, labels=labels)['predictions'][0]['cams']
        res.update(removed=doei_handle(model) is None, removed_is_off=float(np.abs(plain - seq['off']).max()))
        return res

    # 5. Bad inputs are named before any CAM is computed.
    def counting(inf):
        calls = []
        cams = inf.model.cams
        inf.model.cams = lambda *a, **k: (calls.append(1), cams(*a, **k))[1]
        return calls

    def attempt(fn):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            try:
                fn()
                err = None
            except Exception as e:
                err = f'{type(e).__name__}: {e}'
        return dict(error=err, warnings=[str(w.message) for w in caught if 'skipped' in str(w.message)])

    @scenario('bad_inputs')
    def _():
        import os
        inf = CAMInferencer(CONFIGS['mctformer'], weights=ckpts['mctformer'])
        calls = counting(inf)
        good = voc / 'JPEGImages' / f'{ids[0]}.jpg'
        folders = {k: TMP / 'in' / k for k in ('text', 'empty', 'mixed', 'subonly', 'x', 'y')}
        for f in folders.values():
            f.mkdir(parents=True)
        for k in ('text', 'empty', 'mixed', 'x', 'y'):
            (folders[k] / 'a.jpg').write_bytes(good.read_bytes())
        (folders['text'] / 'b.jpg').write_text('not an image')
        (folders['empty'] / 'b.jpg').write_bytes(b'')
        (folders['mixed'] / 'sub').mkdir()
        (folders['mixed'] / 'sub' / 'c.jpg').write_bytes(good.read_bytes())
        os.symlink(TMP / 'nowhere.jpg', folders['mixed'] / 'broken.jpg')
        (folders['subonly'] / 'sub').mkdir()
        (folders['subonly'] / 'sub' / 'c.jpg').write_bytes(good.read_bytes())
        (folders['y'] / 'a.png').write_bytes(good.read_bytes())  # a JPEG named .png: still an image
        deep = TMP / 'in' / 'deep16.png'
        Image.fromarray(np.full((40, 56), 40000, np.uint16)).save(deep)
        show = TMP / 'in_show'
        res = dict(
            text=attempt(lambda: inf(str(folders['text']))),
            empty=attempt(lambda: inf([str(good), str(folders['empty'] / 'b.jpg')])),
            clash=attempt(lambda: inf([str(folders['x'] / 'a.jpg'), str(folders['y'] / 'a.png'),
                                       str(folders['y'] / 'a.jpg'), str(folders['x'] / 'a.jpg')],
                                      show_dir=str(show))),
            deep_inferencer=attempt(lambda: inf(str(deep))),
            deep_notebook=attempt(lambda: inference_cams(inf.model, str(deep), labels=[7])),
            small=attempt(lambda: inf(np.zeros((10, 10, 3), np.uint8), labels=['cat'])),
            subonly=attempt(lambda: inf(str(folders['subonly']))))
        res['calls_before'] = len(calls)
        res['show_made'] = show.exists()
        res['mixed'] = attempt(lambda: res.setdefault('mixed_n', len(inf(str(folders['mixed']), labels=[7])
                                                                     ['predictions'])))
        res['folders'] = {k: str(v) for k, v in folders.items()}
        res['deep'] = str(deep)
        for tag, labels in (('empty', []), ('np_int', np.int64(7)), ('np_list', [np.int64(7), 2]),
                            ('negative', [-1]), ('negative_text', ['-1']), ('twice', ['cat', 7])):
            r = attempt(lambda: res.setdefault(f'labels_{tag}_got', [
                int(c) for c in inf(str(good), labels=labels)['predictions'][0]['labels']]))
            res[f'labels_{tag}'] = r['error']
        return res

    # ... and tools/test.py --cam-out refuses a 16-bit image, naming it, as the notebook does.
    @scenario('deep_tool')
    def _():
        import shutil
        voc16 = TMP / 'voc16'
        shutil.copytree(voc, voc16)
        Image.fromarray(np.full((40, 56), 40000, np.uint16)).save(voc16 / 'JPEGImages' / f'{ids[0]}.jpg',
                                                                    format='PNG')
        (voc16 / 'ImageSets/Segmentation/one.txt').write_text(ids[0] + '\n')
        sys.argv = ['tools/test.py', CONFIGS['mctformer'], ckpts['mctformer'], '--data-root', str(voc16),
                    '--work-dir', str(TMP / 'work16'), '--cam-out', str(TMP / 'cams16'),
                    '--cfg-options', 'cam_dataloader.dataset.split=ImageSets/Segmentation/one.txt']
        try:
            runpy.run_path(str(ROOT / 'tools/test.py'), run_name='__main__')
        except Exception as e:
            return dict(error=f'{type(e).__name__}: {e}', path=str(voc16 / 'JPEGImages' / f'{ids[0]}.jpg'),
                        written=sorted(p.name for p in (TMP / 'cams16').glob('*.npz')))
        return 'accepted'

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
    """tools/test.py --cam-out, inference_cams and CAMInferencer: the same maps at the config's protocol,
    from a process with one intra-op thread (the tool runs at its config's NumThreadsHook count, and so
    do the others now), on the synthetic images and the shipped photo."""
    res = _ok(outcome[f'routes_{name}'])
    assert res != 'ok', 'tools/test.py did not run'
    assert len(res) == 4 and 'chelsea' in res
    for img_id, r in res.items():
        hw = [300, 451] if img_id == 'chelsea' else [40, 56]
        assert r['keys'] == r['labels'] and r['shape'] == r['nb_shape'] == [len(r['labels'])] + hw
        assert r['threads'] == 1  # the routes ran in a one-thread process (the tool's count given back)
        assert r['tool_vs_notebook'] <= 1e-6, (img_id, r)
        if img_id != 'chelsea':  # the photo goes through the notebook and the tool only
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
    assert ("skipped 2 entries that are not image files (by extension; sub-folders are not searched): "
            "['README.txt', 'notes.csv']") in res['warnings'][0]
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


@pytest.mark.slow
def test_two_inferencers_on_one_model_from_two_threads(outcome):
    """doei=False and doei=dict(alpha=0.9) on one model, called concurrently: each call holds the
    model's lock, so each gets the CAMs it gets alone, and nothing crashes."""
    res = _ok(outcome['switch_threads'])
    assert res['off_vs_on'] > 1e-3  # the two switches do give different maps
    assert res['errors'] == [] and res['wrong'] == 0, res


@pytest.mark.slow
def test_doei_switch_leaves_the_users_handle(outcome):
    """After a doei=dict(...) call the model's handle is the one the user took before, with its
    settings and flag; removing it removes DOEI (the model then computes as doei=False)."""
    res = _ok(outcome['switch_threads'])
    assert res['after_on'] == dict(same=True, cfg=True, enabled=True)
    assert res['after_threads'] is True
    assert res['removed'] is True and res['removed_is_off'] == 0.0


@pytest.mark.slow
def test_bad_files_are_named_before_any_cam(outcome):
    res = _ok(outcome['bad_inputs'])
    folders = res['folders']
    assert res['text']['error'] == (f"ValueError: {folders['text']}/b.jpg: cannot read the image header "
                                    f"(UnidentifiedImageError: cannot identify image file '{folders['text']}/b.jpg')")
    assert res['empty']['error'].startswith(f"ValueError: {folders['empty']}/b.jpg: cannot read the image header")
    assert res['calls_before'] == 0  # none of the good images was run first


@pytest.mark.slow
def test_colliding_output_names_are_refused(outcome):
    res = _ok(outcome['bad_inputs'])
    x, y = res['folders']['x'], res['folders']['y']
    assert res['clash']['error'] == (
        'ValueError: 4 inputs would write the same output file (named after the image file, without its folder '
        f'or extension), refused before any CAM is computed:\n  a.png <- {x}/a.jpg, {y}/a.png, {y}/a.jpg, '
        f'{x}/a.jpg\ngive each image once, with distinct names (rename or copy them)')
    assert res['calls_before'] == 0 and res['show_made'] is False


@pytest.mark.slow
def test_folder_names_sub_folders_and_broken_links(outcome):
    res = _ok(outcome['bad_inputs'])
    assert res['mixed']['error'] is None and res['mixed_n'] == 1
    assert res['mixed']['warnings'] == [
        f"{res['folders']['mixed']}: skipped 2 entries that are not image files (by extension; sub-folders are not "
        "searched): ['broken.jpg (a broken link)', 'sub/ (a sub-folder)']"]
    sub = res['folders']['subonly']
    assert res['subonly']['error'] == (
        f"FileNotFoundError: {sub}: no image file in this folder (looked for .jpg, .jpeg, .png, .ppm, .bmp, .pgm, "
        f".tif, .tiff, .webp; found ['sub/ (a sub-folder)']); its sub-folders ['sub'] are not searched: "
        "give them as inputs")


@pytest.mark.slow
def test_sixteen_bit_images_are_refused_on_every_route(outcome):
    res = _ok(outcome['bad_inputs'])
    why = ('image mode I;16 is 16-bit; mmdoei reads 8-bit images only (converting it here would clip or rescale '
           'it silently, and the loaders do it differently): convert it to 8 bits first')
    for route in ('deep_inferencer', 'deep_notebook'):
        assert res[route]['error'].startswith(f"ValueError: {res['deep']}: {why}"), res[route]
    tool = _ok(outcome['deep_tool'])
    assert tool != 'accepted'
    assert tool['error'].startswith(f"ValueError: {tool['path']}: {why}"), tool['error']
    assert tool['written'] == []


@pytest.mark.slow
def test_image_smaller_than_a_patch_is_named(outcome):
    msg = _ok(outcome['bad_inputs'])['small']['error']
    assert msg == ('ValueError: the image array (10, 10, 3): image of 10 x 10 pixels is smaller than one 16 x 16 '
                   'patch of the model, so it has no patch to compute CAMs from; give an image of at least 16 '
                   'pixels a side (or larger scales)')


@pytest.mark.slow
def test_label_edge_cases(outcome):
    res = _ok(outcome['bad_inputs'])
    assert res['labels_np_int_got'] == [7] and res['labels_np_list_got'] == [7, 2]
    assert res['labels_np_int'] is None and res['labels_np_list'] is None
    assert res['labels_empty'].startswith('ValueError: labels=[] names no class: give at least one class by name '
                                          'or 0-based index, or labels=None for the predicted ones; valid classes:')
    for tag in ('negative', 'negative_text'):
        assert res[f'labels_{tag}'].startswith('ValueError: class index -1: negative indices are not classes '
                                               '(classes are 0-based indices 0..19 or names)'), res[f'labels_{tag}']
    assert res['labels_twice'] == ("ValueError: labels ['cat', 7] name cat more than once: give each class once "
                                   '(its CAM is one map)')
