"""Issue 24, as a user meets it, in ONE fresh interpreter (a script printing a JSON of outcomes):

- the CAM writer and every reader agree on the files' suffix: ``tools/test.py --cam-out
  --cam-suffix _cam.npz --eval-seeds`` writes ``{img_id}_cam.npz`` and scores them; the
  transforms (LoadCAMFromFile, CAMToSeed, LoadAffinityLabelFromCAM) and the up-front folder
  check read the same files with ``cam_suffix='_cam.npz'``; a reader left at ``.npz`` stops
  with an error naming the folder, the suffix it reads and the files it found instead; a
  suffix that is not ``.npz`` is refused before any model work;
- a transform class registered by the user with ``reads_cams = True`` is found as a CAM
  reader (no list in mmdoei to edit); one without it is not;
- a classifier class registered by the user declares its CAM protocol and checkpoint
  converter, and the CAM-generation config code and the zoo find them by name; the named
  protocols keep today's values exactly.
"""
import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS

from mmdoei.utils.files import read_split
from projects.wsss_lab.synthetic import make_synthetic_voc

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / 'tests/data/configs/tiny_mct_voc.py'

SCRIPT = textwrap.dedent('''
    import glob, json, os, runpy, sys, traceback
    from pathlib import Path
    import numpy as np

    root, config, data_root, ckpt, tmp = sys.argv[1:6]
    out = {}

    def scenario(name):
        def run(fn):
            try:
                out[name] = dict(err=None, **(fn() or {}))
            except BaseException as e:  # the outcome under test, reported in the JSON
                out[name] = dict(err=f'{type(e).__name__}: {e}', tb=traceback.format_exc()[-2000:])
        return run

    import mmdoei  # noqa: F401  what a user imports
    out['lazy'] = dict(classifiers_imported='mmdoei.models.classifiers' in sys.modules)

    A = f'{tmp}/cams'

    def tool(name, *extra):
        sys.argv = ['tools/test.py', config, ckpt, '--data-root', data_root, '--work-dir', f'{tmp}/work_{name}',
                    *extra, '--cfg-options', f'experiment_name={name}']
        runpy.run_path(f'{root}/tools/test.py', run_name='__main__')

    @scenario('write')
    def _():
        tool('write', '--cam-out', A, '--cam-suffix', '_cam.npz', '--eval-seeds')
        return dict(files=sorted(p.name for p in Path(A).glob('*.npz')),
                    seed_eval=json.loads(Path(A, 'seed_eval', 'seed_eval.json').read_text())['mIoU'])

    def listing(folder):
        return {p.name: p.stat().st_mtime_ns for p in Path(folder).iterdir()} if os.path.isdir(folder) else None

    @scenario('other_suffix')
    def _():
        # the same checkpoint and settings, the default suffix, into the folder of '_cam.npz' CAMs
        before = listing(A)
        try:
            tool('other_suffix', '--cam-out', A)
        finally:
            after = listing(A)
            out['other_suffix_files'] = dict(changed=sorted(k for k in set(before) | set(after)
                                                            if before.get(k) != after.get(k)))

    @scenario('bad_suffix')
    def _():
        tool('bad_suffix', '--cam-out', f'{tmp}/bad', '--cam-suffix', '.cam')
        return dict(files=sorted(os.listdir(f'{tmp}/bad')) if os.path.isdir(f'{tmp}/bad') else None)

    @scenario('long_suffix')
    def _():
        # refused when the loop is built, before the checkpoint is loaded (it failed at the first save)
        import mmdoei.utils.weights as weights  # tools/test.py loads the checkpoint with it
        loads = []
        real = weights.load_runner_weights
        weights.load_runner_weights = lambda *a, **k: loads.append(a) or real(*a, **k)
        try:
            tool('long_suffix', '--cam-out', f'{tmp}/long', '--cam-suffix', 'x' * 296 + '.npz')
        finally:
            weights.load_runner_weights = real
            out['long_suffix_files'] = dict(files=listing(f'{tmp}/long'), loads=len(loads))

    from mmengine.config import Config
    from mmengine.registry import DATASETS, init_default_scope
    from mmdoei.apis.config_surgery import set_data_root

    init_default_scope('mmpretrain')
    cfg = Config.fromfile(config)
    set_data_root(cfg, data_root)

    def dataset(*transforms):
        ds_cfg = cfg.cam_dataloader.dataset.copy()
        ds_cfg['pipeline'] = [dict(type='LoadImageFromFile'), *transforms]
        return DATASETS.build(ds_cfg)

    def readers(**kw):
        return [dict(type='LoadCAMFromFile', cam_dir=A, **kw),
                dict(type='mmseg.CAMToSeed', cam_dir=A, bg_threshold=0.3, **kw),
                dict(type='LoadAffinityLabelFromCAM', cam_dir=A, crf=None, **kw)]

    @scenario('read')
    def _():
        from mmdoei.engine import check_dataset_cams
        ds = dataset(*readers(cam_suffix='_cam.npz'))
        got = []
        for i in range(len(ds)):
            r = ds[i]
            img_id = Path(r['img_path']).stem
            with np.load(f'{A}/{img_id}_cam.npz', allow_pickle=False) as f:
                keys, cams = f['keys'], f['cams'].astype(np.float32)
            order = np.argsort(keys)
            got.append(dict(id=img_id, keys=r['cam_keys'].tolist(), file_keys=keys[order].tolist(),
                            same_cams=bool(np.array_equal(r['cams'], np.clip(cams[order], 0, 1))),
                            seed=list(r['gt_seg_map'].shape), aff=list(r['aff_scores'].shape),
                            hw=list(r['ori_shape'][:2])))
        return dict(images=got, checked=check_dataset_cams(ds))

    @scenario('mismatch_transform')
    def _():
        dataset(dict(type='LoadCAMFromFile', cam_dir=A))[0]

    @scenario('mismatch_check')
    def _():
        from mmdoei.engine import check_dataset_cams
        check_dataset_cams(dataset(dict(type='CAMToSeed', cam_dir=A, bg_threshold=0.3)))

    @scenario('mismatch_eval')
    def _():
        from mmdoei.evaluation import evaluate_cam_dir
        ev = cfg.cam_eval
        from mmdoei.utils.files import read_split
        ids = read_split(f'{data_root}/{ev["split"]}')
        evaluate_cam_dir(A, f'{data_root}/{ev["gt_dir"]}', ids, progress=False)

    # a transform of the user's, registered outside mmdoei
    from mmcv.transforms import BaseTransform
    from mmpretrain.registry import MODELS, TRANSFORMS

    @TRANSFORMS.register_module()
    class UsersCAMReader(BaseTransform):
        reads_cams = True

        def __init__(self, cam_dir, num_classes=21, cam_suffix='.npz'):
            self.cam_dir, self.num_classes, self.cam_suffix = cam_dir, num_classes, cam_suffix

        def transform(self, results):
            return results

    @TRANSFORMS.register_module()
    class UsersOtherTransform(BaseTransform):
        def __init__(self, cam_dir=None):
            self.cam_dir = cam_dir

        def transform(self, results):
            return results

    @scenario('users_transform')
    def _():
        from mmdoei.apis.config_surgery import cam_transform_cfgs
        from mmdoei.engine import cam_transform_names, check_dataset_cams
        pipeline = [dict(type='UsersCAMReader', cam_dir=A), dict(type='mmpretrain.UsersCAMReader', cam_dir=A),
                    dict(type='UsersOtherTransform', cam_dir=A), dict(type='LoadCAMFromFile', cam_dir=A),
                    dict(type='mmdoei.LoadCAMFromFile', cam_dir=A), dict(type='PackInputs')]
        found = [t['type'] for t in cam_transform_cfgs(pipeline)]
        checked = check_dataset_cams(dataset(dict(type='UsersCAMReader', cam_dir=A, cam_suffix='_cam.npz'),
                                             dict(type='UsersOtherTransform', cam_dir='/nonexistent')))
        try:
            check_dataset_cams(dataset(dict(type='UsersCAMReader', cam_dir=f'{tmp}/nowhere')))
            refused = None
        except ValueError as e:
            refused = str(e)
        return dict(found=found, names=cam_transform_names(), checked=checked, refused=refused)

    # a classifier of the user's: a new baseline, registered outside mmdoei
    from mmdoei.models.classifiers import MCTformerV1

    def users_converter(ckpt):
        return {'converted': ckpt['raw'] + 1}

    @MODELS.register_module()
    class UsersBaseline(MCTformerV1):
        cam_protocol = ('usersbaseline', dict(scales=(0.5, 1.0), sizes=None, flip=False, interpolation='bilinear',
                                              norm='minmax'))
        checkpoint_converter = ('users2mmdoei', users_converter)

    @scenario('protocols')
    def _():
        from mmdoei.cam import CAM_PROTOCOLS
        return dict(table=repr({k: CAM_PROTOCOLS[k] for k in sorted(CAM_PROTOCOLS)}))

    @scenario('users_protocol')
    def _():
        from mmdoei.apis import cam_generation_cfg
        from mmdoei.apis.config_surgery import cam_protocol
        c = cfg.copy()
        c.cam_gen = dict(protocol='usersbaseline')
        gen = cam_protocol(c)
        by_tool = cam_protocol(cfg, protocol='usersbaseline')
        loop = dict(cam_generation_cfg(c, f'{tmp}/x').test_cfg)
        return dict(gen=repr({k: gen[k] for k in ('scales', 'sizes', 'flip', 'interpolation', 'norm')}),
                    by_tool=repr({k: by_tool[k] for k in ('scales', 'sizes', 'flip', 'interpolation', 'norm')}),
                    loop=repr({k: loop[k] for k in ('scales', 'sizes', 'flip', 'interpolation', 'norm',
                                                    'cam_suffix')}))

    @scenario('users_converter')
    def _():
        from mmdoei.apis import hub
        from mmdoei.utils import download
        Path(f'{tmp}/zoo').mkdir(exist_ok=True)
        Path(f'{tmp}/zoo/metafile.yml').write_text(
            'Models:\\n'
            f'  - Name: users-baseline\\n    Config: {config}\\n    Weights: http://127.0.0.1:9/users.pth\\n'
            '    Converter: users2mmdoei\\n'
            f'  - Name: users-typo\\n    Config: {config}\\n    Weights: http://127.0.0.1:9/typo.pth\\n'
            '    Converter: user2mmdoei\\n')
        Path(f'{tmp}/zoo/model-index.yml').write_text('Import:\\n  - metafile.yml\\n')
        hub.register_model_index(f'{tmp}/zoo/model-index.yml', mmpretrain_hub=False)
        name, fn = download._CONVERTERS['http://127.0.0.1:9/users.pth']
        try:
            hub.resolve_model('users-typo', pretrained=True)
            typo = None
        except ValueError as e:
            typo = str(e)
        try:
            download._CONVERTERS['http://127.0.0.1:9/typo.pth'][1]({'raw': 1})
            typo_load = None
        except ValueError as e:
            typo_load = str(e)
        return dict(in_map=hub.CONVERTERS['users2mmdoei'] is users_converter, name=name, converted=fn({'raw': 1}),
                    typo=typo, typo_load=typo_load, metafile=f'{tmp}/zoo/metafile.yml')

    @scenario('clash')
    def _():
        from mmdoei.cam import CAM_PROTOCOLS

        @MODELS.register_module()
        class UsersClash(MCTformerV1):
            cam_protocol = ('mctformer', dict(scales=(2.0, ), sizes=None, flip=True, interpolation='bicubic',
                                              norm='minmax'))
        try:
            CAM_PROTOCOLS['mctformer']
            return dict(msg=None)
        except ValueError as e:
            return dict(msg=str(e))
        finally:
            MODELS.module_dict.pop('UsersClash')

    print('RESULT ' + json.dumps(out))
''')


@pytest.fixture(scope='module')
def outcomes(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('camdecl')
    data_root = make_synthetic_voc(tmp / 'voc', num_train=3, num_val=1, img_size=(48, 64))
    cfg = Config.fromfile(str(CONFIG))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, tmp / 'ckpt.pth')
    script = tmp / 'scenarios.py'
    script.write_text(SCRIPT)
    res = subprocess.run([sys.executable, str(script), str(ROOT), str(CONFIG), str(data_root),
                          str(tmp / 'ckpt.pth'), str(tmp)], capture_output=True, text=True, timeout=1200, cwd=ROOT,
                         env=dict(os.environ, PYTHONUNBUFFERED='1'))
    lines = [line for line in res.stdout.splitlines() if line.startswith('RESULT ')]
    assert res.returncode == 0 and lines, (res.stdout + res.stderr)[-5000:]
    cfg = Config.fromfile(str(CONFIG))
    return dict(out=json.loads(lines[-1][len('RESULT '):]), tmp=tmp, data_root=data_root,
                ids=read_split(str(data_root / cfg.cam_dataloader.dataset.split)),
                eval_ids=read_split(str(data_root / cfg.cam_eval.split)))


def _ok(outcomes, name):
    r = outcomes['out'][name]
    assert r['err'] is None, r.get('tb', r['err'])
    return r


def test_import_mmdoei_imports_no_classifier(outcomes):
    """The zoo resolves converters when a file loads: import mmdoei stays lazy."""
    assert outcomes['out']['lazy'] == dict(classifiers_imported=False)


def test_cams_written_with_a_suffix_are_scored_with_it(outcomes):
    r = _ok(outcomes, 'write')
    assert r['files'] == sorted(f'{i}_cam.npz' for i in outcomes['ids'])
    assert isinstance(r['seed_eval'], float)


def test_the_transforms_and_the_folder_check_read_the_same_files(outcomes):
    r = _ok(outcomes, 'read')
    assert [im['id'] for im in r['images']] == outcomes['ids']
    for im in r['images']:
        assert im['keys'] == im['file_keys'] and im['keys'], im
        assert im['same_cams'], im
        assert im['seed'] == im['hw'] == [48, 64]
        assert im['aff'] == [48, 64, 2 * (len(im['keys']) + 1)]
    assert r['checked'] == 3 * len(outcomes['ids'])  # each of the three readers' folder, every image


def test_a_reader_with_another_suffix_names_the_folder_and_the_suffix(outcomes):
    a = str(outcomes['tmp'] / 'cams')
    first = outcomes['ids'][0]
    err = outcomes['out']['mismatch_transform']['err']
    # the dataset names the sample and the image, then the transform's error
    assert err.startswith('RuntimeError: cannot load sample 0 (image ') and \
        f'ValueError: {a}/{first}.npz: CAM file does not exist in CAM folder {a}' in err, err
    assert f"read as {{img_id}}.npz (cam_suffix '.npz') but {a} holds 1 .npz file(s) named otherwise, " \
           f"e.g. ['{first}_cam.npz']" in err, err
    err = outcomes['out']['mismatch_check']['err']
    n = len(outcomes['ids'])
    assert err.startswith(f'ValueError: {n} of {n} CAM files in {a} are unusable:\n  {a}/{first}.npz: CAM file '
                          'does not exist'), err
    assert f"CAM files are read as {{img_id}}.npz (cam_suffix '.npz') but {a} holds {n} .npz file(s) named " \
           f"otherwise, e.g. {[f'{i}_cam.npz' for i in outcomes['ids'][:3]]}" in err, err
    err = outcomes['out']['mismatch_eval']['err']
    ev = outcomes['eval_ids']
    assert err.startswith(f'FileNotFoundError: {len(ev)} of {len(ev)} CAM files listed by the image list are '
                          f'missing:\n  {a}/{ev[0]}.npz'), err
    assert f"; CAM files are read as {{img_id}}.npz (cam_suffix '.npz') but {a} holds {len(ev)} .npz file(s) " \
           f"named otherwise, e.g. {[f'{i}_cam.npz' for i in ev[:3]]}: were they written with another " \
           'cam_suffix?' in err, err


def test_a_suffix_that_is_not_npz_is_refused_before_any_work(outcomes):
    r = outcomes['out']['bad_suffix']
    assert r['err'] == ("ValueError: cam_suffix must end with '.npz' and name a file in the CAM folder (a CAM file "
                        "is an npz archive; CAM folders are handled as *.npz), got '.cam'"), r


def test_cams_of_another_suffix_are_refused_in_a_recorded_folder(outcomes):
    """Issue 24: ``.npz`` CAMs into a folder of ``_cam.npz`` CAMs of the same checkpoint were
    accepted as resuming (two kinds of files); the record's cam_suffix refuses them."""
    a = outcomes['tmp'] / 'cams'
    err = outcomes['out']['other_suffix']['err']
    assert err.startswith(f'OutputConflict: CAM folder {a} holds outputs made with other settings (old -> new):\n  '
                          'cam_suffix: "_cam.npz" -> ".npz"\nNothing was reused or changed.'), err
    assert 'rerun tools/test.py --cam-out with --overwrite' in err
    # only the lock file's holder note is rewritten (the lock was taken): no CAM file, record or report
    assert outcomes['out']['other_suffix_files'] == dict(changed=['.mmdoei.lock'])


def test_a_suffix_too_long_for_a_file_name_is_refused_before_the_checkpoint_is_loaded(outcomes):
    r = outcomes['out']['long_suffix']
    assert r['err'] == ('ValueError: cam_suffix is 300 bytes long, more than the limit of 64 (with the image id it '
                        "names a file, which most file systems limit to 255 bytes), got 'xxxxxxxxxxxxxxxxxxxxxxxx'..."
                        ), r.get('tb', r)
    files = outcomes['out']['long_suffix_files']
    assert files['loads'] == 0 and not files['files'], files  # no CAM file, no record


def test_a_users_transform_with_reads_cams_is_a_cam_reader(outcomes):
    r = _ok(outcomes, 'users_transform')
    assert r['found'] == ['UsersCAMReader', 'mmpretrain.UsersCAMReader', 'LoadCAMFromFile', 'mmdoei.LoadCAMFromFile']
    assert r['names'] == ['CAMToSeed', 'LoadAffinityLabelFromCAM', 'LoadCAMFromFile', 'UsersCAMReader']
    assert r['checked'] == len(outcomes['ids'])  # UsersOtherTransform's folder is not looked at
    assert r['refused'] == f"CAM folder {outcomes['tmp']}/nowhere does not exist"


#: Today's values of the named protocols (issue 24 moved them onto the classifier classes).
PROTOCOLS = {
    'ms5': dict(scales=(0.5, 0.75, 1.0, 1.25, 1.5), sizes=None, flip=True, interpolation='bicubic', norm='minmax'),
    'mctformer': dict(scales=(1.0, ), sizes=None, flip=True, interpolation='bicubic', norm='minmax'),
    'tscam': dict(scales=None, sizes=((224, 224), ), flip=False, interpolation='bilinear', norm='minmax'),
    'transcam': dict(scales=None, sizes=((256, 256), (512, 512), (768, 768)), flip=True, interpolation='bicubic',
                     norm='clamp_sum'),
}
USERS = dict(scales=(0.5, 1.0), sizes=None, flip=False, interpolation='bilinear', norm='minmax')


def test_named_protocols_keep_their_values(outcomes):
    table = ast.literal_eval(_ok(outcomes, 'protocols')['table'])
    assert table == dict(PROTOCOLS, usersbaseline=USERS)
    assert {k: {f: type(v) for f, v in p.items()} for k, p in table.items() if k in PROTOCOLS} == \
        {k: {f: type(v) for f, v in p.items()} for k, p in PROTOCOLS.items()}  # tuples stay tuples


def test_a_users_classifier_protocol_is_found_by_name(outcomes):
    r = _ok(outcomes, 'users_protocol')
    assert ast.literal_eval(r['gen']) == USERS
    assert ast.literal_eval(r['by_tool']) == USERS
    assert ast.literal_eval(r['loop']) == dict(USERS, cam_suffix='.npz')


def test_a_users_classifier_converter_is_found_by_the_zoo(outcomes):
    r = _ok(outcomes, 'users_converter')
    assert r['in_map'] is True
    assert r['name'] == 'users2mmdoei'
    assert r['converted'] == {'converted': 2}
    assert r['typo'] == (f"{r['metafile']}: model users-typo: unknown Converter 'user2mmdoei' (known: "
                         "['mctformer2mmdoei', 'transcam2mmdoei', 'tscam2mmdoei', 'users2mmdoei'])")
    assert r['typo_load'].startswith(f"{r['metafile']}: model users-typo: unknown Converter 'user2mmdoei' (known: "
                                     "['mctformer2mmdoei', 'transcam2mmdoei', 'tscam2mmdoei', 'users2mmdoei']")


def test_two_classes_declaring_one_protocol_differently_are_refused(outcomes):
    msg = _ok(outcomes, 'clash')['msg']
    assert msg.startswith("cam_protocol 'mctformer' is declared differently by "
                          'mmdoei.models.classifiers.mctformer.MCTformerV1 ('), msg
    assert ' and __main__.' in msg and 'UsersClash (' in msg and "'scales': (2.0,)" in msg, msg
