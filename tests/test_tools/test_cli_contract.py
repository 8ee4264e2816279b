"""The tools' command-line contract, run as a user runs them (issue 22, points 7 and 8).

* ``--help`` of every tool in tools/ answers without importing torch, mmengine or
  mmdoei (exit 0, its usage text);
* the tools whose bare run starts a long job (``pretrain.py``, ``demo.py``,
  ``check_configs.py``) print their usage and exit 2 instead;
* ``tools/test.py`` checks every output path before anything is built (two output
  flags on one path, or one inside a file another writes, are refused), refuses
  pickle, and gives ``--out`` its upstream meaning: a folder of prediction PNGs
  for segmentation configs (mmseg), a JSON file of predictions or metrics
  (``--out-item``) for stage-1 configs (mmpretrain);
* ``--amp`` of ``tools/test.py`` (as ``dist_test.sh`` passes it) and ``tools/train.py``
  is refused on a machine without a GPU, with ``AMP_CPU_MESSAGE``, before the
  Runner is built or any output folder made;
* ``tools/dataset_converters/make_synthetic_voc.py`` writes the VOC layout it documents;
* ``import mmdoei`` imports none of torchvision, torch._dynamo, scipy, timm or
  mmseg's tokenizer, and its classes still build by type name.

Everything runs in ONE fresh interpreter (``sys.executable``, no conftest
setup; the tools call ``setup_env`` themselves): a script runs each scenario
and prints a JSON of outcomes, each test asserts on its own.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
# tools are the scripts; a module whose name starts with '_' is a helper they import
TOOLS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / 'tools').rglob('*.py') if not p.name.startswith('_'))
LONG_JOBS = ('tools/pretrain.py', 'tools/demo.py', 'tools/check_configs.py')
STAGE1 = 'configs/demo/mctformer-v2_vit-4l128_synthetic-64.py'
SEG = 'configs/deeplab/deeplabv1-largefov_resnet38d-tiny_1xb8-800i_synthvoc-64x64.py'
NOT_AT_IMPORT = ('torchvision', 'torch._dynamo', 'scipy', 'timm', 'mmseg.utils.tokenizer')

SCRIPT = textwrap.dedent('''
    import contextlib, io, json, os, runpy, sys
    tools, long_jobs, tmp, stage1, seg, not_at_import = json.loads(sys.argv[1])
    out = {}

    def run(tool, argv):
        """runpy the tool as __main__ with argv: (exit code, stdout + stderr)."""
        sys.argv = [tool] + argv
        buf = io.StringIO()
        code = 0
        try:
            with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
                runpy.run_path(tool, run_name='__main__')
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) or e.code is None else str(e.code)
        except Exception as e:  # recorded as the outcome: the test that owns the scenario shows it
            code = f'raised {type(e).__name__}: {e}'
        return code, buf.getvalue()

    heavy = ('torch', 'mmengine', 'mmdoei', 'mmpretrain', 'mmseg')
    for tool in tools:
        code, text = run(tool, ['--help'])
        out['help:' + tool] = dict(code=code, usage=text.startswith('usage: '),
                                   loaded=[m for m in heavy if m in sys.modules])
    for tool in long_jobs:
        code, text = run(tool, [])
        out['bare:' + tool] = dict(code=code, text=text, loaded=[m for m in heavy if m in sys.modules])

    a_file = os.path.join(tmp, 'a_file')
    open(a_file, 'w').close()
    os.makedirs(os.path.join(tmp, 'a_dir'))
    work = os.path.join(tmp, 'work')
    cases = {
        'work_dir_is_file': [stage1, 'x.pth', '--work-dir', a_file],
        'show_dir_under_file': [seg, 'x.pth', '--show-dir', a_file + '/vis'],
        'cam_out_is_file': [stage1, 'x.pth', '--cam-out', a_file],
        'metrics_out_is_dir': [stage1, 'x.pth', '--metrics-out', os.path.join(tmp, 'a_dir')],
        'metrics_out_pkl': [stage1, 'x.pth', '--metrics-out', os.path.join(tmp, 'm.pkl')],
        'out_item_alone': [stage1, 'x.pth', '--out-item', 'metrics'],
        'out_with_cam_out': [stage1, 'x.pth', '--out', os.path.join(tmp, 'p.json'), '--cam-out', tmp],
        'out_is_metrics_out': [stage1, 'x.pth', '--out', os.path.join(tmp, 'same.json'), '--metrics-out',
                               os.path.join(tmp, 'a_dir', '..', 'same.json')],
        'show_dir_is_work_dir': [seg, 'x.pth', '--show-dir', os.path.join(tmp, 'w'), '--work-dir',
                                 os.path.join(tmp, 'w')],
        'metrics_out_in_out_file': [stage1, 'x.pth', '--out', os.path.join(tmp, 'p.json'), '--metrics-out',
                                    os.path.join(tmp, 'p.json', 'm.json')],
        'work_dir_in_cam_out': [stage1, 'x.pth', '--cam-out', os.path.join(tmp, 'cams'), '--work-dir',
                                os.path.join(tmp, 'cams', 'work')],
    }
    for name, argv in cases.items():
        code, text = run('tools/test.py', argv)
        out['flags:' + name] = dict(code=code, text=text)
    out['flags_loaded'] = [m for m in heavy if m in sys.modules]

    # import mmdoei: nothing of the above was imported yet
    import mmdoei  # noqa: F401
    out['import'] = [m for m in not_at_import if m in sys.modules]
    from mmengine.registry import HOOKS
    import mmpretrain.registry, mmseg.registry
    out['registered'] = [str(r.get(k)) for r, k in ((HOOKS, 'DOEIHook'), (mmpretrain.registry.MODELS, 'MCTformerV2'),
                                                   (mmseg.registry.MODELS, 'LargeFOVHead'),
                                                   (mmseg.registry.DATASETS, 'VOCPseudoMaskDataset'))]

    # config-dependent checks of tools/test.py: after the config is read, before the Runner is built
    cases = {
        'stage1_out_pkl': [stage1, 'x.pth', '--out', os.path.join(tmp, 'pred.pkl'), '--work-dir', work],
        'stage1_out_txt': [stage1, 'x.pth', '--out', os.path.join(tmp, 'pred.txt'), '--work-dir', work],
        'stage1_out_is_dir': [stage1, 'x.pth', '--out', os.path.join(tmp, 'a_dir'), '--work-dir', work],
        'seg_out_is_file': [seg, 'x.pth', '--out', a_file, '--work-dir', work],
        'seg_out_under_file': [seg, 'x.pth', '--out', a_file + '/preds', '--work-dir', work],
        'seg_out_item': [seg, 'x.pth', '--out', os.path.join(tmp, 'preds'), '--out-item', 'pred',
                         '--work-dir', work],
    }
    for name, argv in cases.items():
        code, text = run('tools/test.py', argv)
        out['config:' + name] = dict(code=code, text=text)
    out['work_dir_made'] = os.path.exists(work)

    # --amp without a GPU, as the guides show it (dist_test.sh ... --cam-out --eval-seeds --overlay --amp;
    # train.py --amp): refused with AMP_CPU_MESSAGE before the Runner is built or anything is written
    import torch
    out['cuda'] = torch.cuda.is_available()
    cams, amp_work = os.path.join(tmp, 'amp_cams'), os.path.join(tmp, 'amp_work')
    for tool, argv in (('tools/test.py', [stage1, 'x.pth', '--cam-out', cams, '--eval-seeds', '--overlay', '--amp',
                                          '--work-dir', amp_work]),
                       ('tools/train.py', [stage1, '--amp', '--work-dir', amp_work])):
        code, text = run(tool, argv)
        out['amp:' + tool] = dict(code=code, text=text[-3000:],
                                  written=[p for p in (cams, amp_work) if os.path.exists(p)])

    # the converter's command line (docs/user_guides/segmentation.md) on a 6-image set
    code, text = run('tools/dataset_converters/make_synthetic_voc.py',
                     [os.path.join(tmp, 'voc_cli'), '--img-size', '40', '56', '--num-train', '4', '--num-val', '2',
                      '--seed', '1'])
    out['make_synthetic_voc'] = dict(code=code, text=text)

    # a stage-1 test with --out (predictions, JSON) and --out-item metrics, on a tiny synthetic set
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from projects.wsss_lab.synthetic import make_synthetic_voc
    data = make_synthetic_voc(os.path.join(tmp, 'voc'), num_train=4, num_val=3, img_size=(64, 64))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        torch.manual_seed(0)
        model = mmpretrain.registry.MODELS.build(Config.fromfile(stage1).model)
    ckpt = os.path.join(tmp, 'stage1.pth')
    torch.save(dict(meta=dict(), state_dict=model.state_dict()), ckpt)
    common = [stage1, ckpt, '--data-root', str(data), '--cfg-options', 'test_dataloader.batch_size=2']
    code, text = run('tools/test.py', common + ['--out', os.path.join(tmp, 'res', 'pred.json'),
                                                '--work-dir', os.path.join(tmp, 'w1')])
    out['stage1_pred'] = dict(code=code, tail=text[-3000:])
    code, text = run('tools/test.py', common + ['--out', os.path.join(tmp, 'metrics.json'), '--out-item', 'metrics',
                                                '--work-dir', os.path.join(tmp, 'w2')])
    out['stage1_metrics'] = dict(code=code, tail=text[-3000:])
    print('RESULT ' + json.dumps(out))
''')


@pytest.fixture(scope='module')
def outcome(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('cli')
    arg = json.dumps([TOOLS, LONG_JOBS, str(tmp), STAGE1, SEG, NOT_AT_IMPORT])
    res = subprocess.run([sys.executable, '-c', SCRIPT, arg], cwd=ROOT, capture_output=True, text=True,
                         timeout=900, env=dict(os.environ, OMP_NUM_THREADS='1'))
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith('RESULT ')]
    assert res.returncode == 0 and lines, (res.stdout[-3000:], res.stderr[-3000:])
    return json.loads(lines[-1][len('RESULT '):]), tmp


def test_every_tool_is_covered():
    assert len(TOOLS) >= 16 and 'tools/test.py' in TOOLS and 'tools/model_converters/publish_model.py' in TOOLS


@pytest.mark.slow
@pytest.mark.parametrize('tool', TOOLS)
def test_help_imports_nothing_heavy(outcome, tool):
    result = outcome[0]['help:' + tool]
    assert result == dict(code=0, usage=True, loaded=[]), result


@pytest.mark.slow
@pytest.mark.parametrize('tool', LONG_JOBS)
def test_bare_run_of_a_long_job_prints_usage(outcome, tool):
    result = outcome[0]['bare:' + tool]
    assert result['code'] == 2 and result['loaded'] == [], result
    assert result['text'].startswith('usage: ') and 'error: no arguments: ' in result['text']
    assert {'tools/pretrain.py': 'give --seed 0', 'tools/demo.py': 'give --model mctformer-v2',
            'tools/check_configs.py': 'give CONFIG ... or --all'}[tool] in result['text']


@pytest.mark.slow
@pytest.mark.parametrize('case, message', [
    ('work_dir_is_file', '--work-dir {tmp}/a_file: is a file; --work-dir needs a folder'),
    ('show_dir_under_file', '--show-dir {tmp}/a_file/vis: cannot be created, {tmp}/a_file is a file, not a folder'),
    ('cam_out_is_file', '--cam-out {tmp}/a_file: is a file; --cam-out needs a folder'),
    ('metrics_out_is_dir', '--metrics-out {tmp}/a_dir: is a folder; --metrics-out needs a file path '
                           '(e.g. {tmp}/a_dir/results.json)'),
    ('metrics_out_pkl', '--metrics-out {tmp}/m.pkl: results are written as JSON only, never pickled (loading a '
                        'pickle can run arbitrary code, so a shared results file must not be one); give a .json '
                        'path, e.g. {tmp}/m.json'),
    ('out_item_alone', '--out-item needs --out (the file it writes), as in mmpretrain'),
    ('out_with_cam_out', "--out writes the predictions of the config's test loop; CAMs are written to --cam-out"),
    # two output flags on one path: the whole test ran, then the metrics replaced the predictions
    ('out_is_metrics_out', '--out {tmp}/same.json and --metrics-out {tmp}/a_dir/../same.json name the same path: '
                           'one output would replace the other; give each its own path'),
    ('show_dir_is_work_dir', '--show-dir {tmp}/w and --work-dir {tmp}/w name the same path: one output would '
                             'replace the other; give each its own path'),
    ('metrics_out_in_out_file', '--metrics-out {tmp}/p.json/m.json is inside --out {tmp}/p.json, which is a file; '
                                'give --metrics-out a path outside it'),
    ('work_dir_in_cam_out', "--work-dir {tmp}/cams/work is inside --cam-out {tmp}/cams, which is the CAM run's own "
                            'folder (locked, recorded, cleaned by --overwrite); give --work-dir a path outside it'),
])
def test_test_tool_flags_fail_before_any_import(outcome, case, message):
    result, tmp = outcome
    assert result['flags:' + case] == dict(code=message.format(tmp=tmp), text=''), result['flags:' + case]
    assert result['flags_loaded'] == []


@pytest.mark.slow
@pytest.mark.parametrize('case, message', [
    ('stage1_out_pkl', '--out {tmp}/pred.pkl: results are written as JSON only, never pickled'),
    ('stage1_out_txt', '--out {tmp}/pred.txt: results are written as JSON; give a path ending in .json'),
    ('stage1_out_is_dir', '--out {tmp}/a_dir: is a folder; --out needs a file path (e.g. {tmp}/a_dir/results.json)'),
    ('seg_out_is_file', '--out {tmp}/a_file: is a file; --out needs a folder'),
    ('seg_out_under_file', '--out {tmp}/a_file/preds: cannot be created, {tmp}/a_file is a file, not a folder'),
    ('seg_out_item', f'--out-item: {SEG} is a segmentation (mmseg) config, whose --out is a folder of prediction '
                     'PNGs; use --metrics-out FILE.json for the metrics'),
])
def test_test_tool_out_is_checked_before_the_runner(outcome, case, message):
    result, tmp = outcome
    code = result['config:' + case]['code']
    assert isinstance(code, str) and code.startswith(message.format(tmp=tmp)), code
    assert not result['work_dir_made']  # no Runner was built


@pytest.mark.slow
def test_import_mmdoei_is_lazy_and_registers_on_lookup(outcome):
    result = outcome[0]
    assert result['import'] == []
    assert result['registered'] == [
        "<class 'mmdoei.doei.hook.DOEIHook'>", "<class 'mmdoei.models.classifiers.mctformer.MCTformerV2'>",
        "<class 'mmdoei.models.decode_heads.deeplab_heads.LargeFOVHead'>",
        "<class 'mmdoei.datasets.pseudo_mask.VOCPseudoMaskDataset'>"]


@pytest.mark.slow
def test_stage1_out_writes_predictions_as_json(outcome):
    result, tmp = outcome
    assert result['stage1_pred']['code'] in (0, None), result['stage1_pred']['tail']
    preds = json.loads((tmp / 'res' / 'pred.json').read_text())  # its folder did not exist: made
    val = next((tmp / 'voc').rglob('ImageSets/Segmentation/val.txt')).read_text().split()
    assert sorted(Path(p['img_path']).stem for p in preds) == sorted(val)
    for pred in preds:
        assert len(pred['pred_score']) == 20 and all(0 <= s <= 1 for s in pred['pred_score'])
        assert {'img_path', 'gt_label', 'pred_score', 'pred_label', 'num_classes'} <= set(pred)
        assert pred['num_classes'] == 20 and pred['gt_label'] and all(0 <= c < 20 for c in pred['gt_label'])
    assert not list(tmp.rglob('*.pkl'))


@pytest.mark.slow
def test_stage1_out_item_metrics_writes_the_metrics(outcome):
    result, tmp = outcome
    assert result['stage1_metrics']['code'] in (0, None), result['stage1_metrics']['tail']
    metrics = json.loads((tmp / 'metrics.json').read_text())
    assert list(metrics) == ['multi-label/mAP'] and 0 <= metrics['multi-label/mAP'] <= 100


@pytest.mark.slow
@pytest.mark.parametrize('tool', ['tools/test.py', 'tools/train.py'])
def test_amp_refused_without_a_gpu_before_anything_is_built(outcome, tool):
    result = outcome[0]
    assert result['cuda'] is False  # this is about machines without a GPU
    from mmdoei.utils.config import AMP_CPU_MESSAGE

    # the tool's own SystemExit with the message, no traceback, and neither --cam-out nor --work-dir made
    assert result['amp:' + tool] == dict(code=AMP_CPU_MESSAGE, text='', written=[]), result['amp:' + tool]


@pytest.mark.slow
def test_make_synthetic_voc_cli_writes_the_voc_layout(outcome):
    result, tmp = outcome
    root = tmp / 'voc_cli' / 'VOC2012'
    assert result['make_synthetic_voc'] == dict(code=0, text=f'wrote {root}\n'), result['make_synthetic_voc']
    lists = {name: (root / 'ImageSets/Segmentation' / f'{name}.txt').read_text().split()
             for name in ('train_aug', 'train', 'val', 'trainval')}
    assert len(lists['train_aug']) == 4 and len(lists['val']) == 2 and not set(lists['train_aug']) & set(lists['val'])
    assert len(lists['train']) == 2 and set(lists['train']) <= set(lists['train_aug'])  # half, by default
    assert lists['trainval'] == sorted(lists['train'] + lists['val'])
    every = sorted(lists['train_aug'] + lists['val'])
    assert sorted(p.stem for p in (root / 'JPEGImages').iterdir()) == every
    assert sorted(p.stem for p in (root / 'SegmentationClassAug').iterdir()) == every
    assert sorted(p.stem for p in (root / 'SegmentationClass').iterdir()) == lists['trainval']
    for img_id in every:
        img = Image.open(root / 'JPEGImages' / f'{img_id}.jpg')
        mask = Image.open(root / 'SegmentationClassAug' / f'{img_id}.png')
        assert img.size == mask.size == (56, 40) and img.mode == 'RGB' and mask.mode == 'P'  # --img-size H W
