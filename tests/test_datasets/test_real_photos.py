"""Real photos through every stage (datasets: VOC and COCO layouts from Debian's labelme-examples).

labelme-examples ships three PASCAL VOC 2011 photographs (500 x 338, 500 x 375) with VOC
class masks, VOC XML and a COCO-format json. One fresh interpreter (as a user runs the
tools) builds from them, with the converters' own code paths, a VOC 2012 tar + SBD tgz ->
``voc_aug.py`` root and a COCO 2014 + COCO-Stuff -> ``coco_wsss.py`` root, adding a grayscale
and a CMYK JPEG of the photos and VOC XML ``difficult`` and ``part`` elements, checks both with
``check_dataset.py``, then runs at the photos' real sizes through the tools (in-process with
runpy, as tools/check_configs.py does, on the tiny configs with data_root changed): stage 1
of each baseline for a few iterations and its CAMs, the seed scores, AffinityNet and the random
walk (tools/psa_infer.py), DeepLab for a few iterations and its ``--tta`` test. Each test
asserts on its own scenario of that run's JSON. About 75 s of CPU time (110 s on 2 busy cores).
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = Path('/usr/share/doc/labelme-examples/examples')

SCRIPT = textwrap.dedent(r'''
    import json, runpy, sys, time, traceback
    from pathlib import Path
    import numpy as np
    from PIL import Image
    ROOT, WORK, EX = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    sys.path.insert(0, str(ROOT / 'tests' / 'test_datasets'))
    from test_converters import make_coco_tree, make_sbd_tree, make_voc_tree, tar_folder, voc_xml
    out = {}

    def scenario(name, fn):
        t0 = time.perf_counter()
        try:
            out[name] = dict(ok=True, value=fn())
        except BaseException as e:  # noqa: BLE001  (each scenario reports its own failure)
            traceback.print_exc()
            out[name] = dict(ok=False, error=f'{type(e).__name__}: {e}')
        out[name]['s'] = round(time.perf_counter() - t0, 1)

    def tool(path, argv):
        old = sys.argv
        sys.argv = [str(ROOT / path)] + [str(a) for a in argv]
        try:
            runpy.run_path(str(ROOT / path), run_name='__main__')
        except SystemExit as e:
            if e.code not in (0, None):
                raise RuntimeError(f'{path} exited with {e.code}')
        finally:
            sys.argv = old

    seg = EX / 'instance_segmentation' / 'data_dataset_voc'
    photos = {i: Image.open(seg / 'JPEGImages' / f'{i}.jpg').convert('RGB')
              for i in ('2011_000003', '2011_000006', '2011_000025')}
    masks = {i: np.asarray(Image.open(seg / 'SegmentationClassPNG' / f'{i}.png')) for i in photos}
    npys = {i: np.load(seg / 'SegmentationClass' / f'{i}.npy', allow_pickle=False) for i in photos}
    # grayscale (L) and CMYK JPEGs of the photos, as COCO holds both
    variants = {'2010_900003': ('2011_000003', 'L'), '2010_900025': ('2011_000025', 'CMYK'),
                '2011_900006': ('2011_000006', 'L')}

    def build_voc():
        images = dict(photos)
        for v, (src, mode) in variants.items():
            images[v] = photos[src].convert(mode)
            masks[v], npys[v] = masks[src], npys[src]
        xml_dir = EX / 'bbox_detection' / 'data_dataset_voc' / 'Annotations'
        xmls = {i: (xml_dir / f'{i}.xml').read_text() for i in photos}  # the real files
        # difficult objects and <part> elements: parts (head, hand) are not classes
        xmls['2010_900003'] = voc_xml('2010_900003', masks['2010_900003'].shape, ['person', 'bottle'],
                                      difficult=('bottle', ), parts={'person': ['head', 'hand']})
        xmls['2010_900025'] = voc_xml('2010_900025', masks['2010_900025'].shape, ['bus', 'car'],
                                      parts={'bus': ['head']})
        xmls['2011_900006'] = xmls['2011_000006']
        voc = make_voc_tree(WORK / 'src', images, xmls,
                            {i: masks[i] for i in ('2010_900003', '2011_000025', '2011_000006', '2011_900006')},
                            ['2010_900003', '2011_000025'], ['2011_000006', '2011_900006'])
        # SBD's masks have no 255 band: labelme's -1 (ignore) becomes background
        mats = {i: np.where(npys[i] < 0, 0, npys[i]) for i in ('2011_000003', '2010_900003', '2010_900025',
                                                                  '2011_000006')}
        sbd = make_sbd_tree(WORK / 'src', mats, ['2011_000003', '2010_900003'], ['2010_900025', '2011_000006'])
        tar = tar_folder(voc.parent, WORK / 'VOCtrainval_11-May-2012.tar')
        tgz = tar_folder(sbd, WORK / 'benchmark.tgz')
        tool('tools/dataset_converters/voc_aug.py', [tar, tgz, '--out-dir', WORK / 'data'])
        root = WORK / 'data' / 'VOCdevkit' / 'VOC2012'
        tool('tools/dataset_converters/check_dataset.py', [ROOT / 'configs/doei/mct_voc.py', '--data-root', root,
                                                           '--subset'])
        from mmdoei.datasets import VOCWSSSDataset
        ds = VOCWSSSDataset(data_root=str(root), split='ImageSets/Segmentation/train_aug.txt')
        modes = {i: Image.open(root / 'JPEGImages' / f'{i}.jpg').mode for i in variants}
        return dict(train_aug=(root / 'ImageSets/Segmentation/train_aug.txt').read_text().split(),
                    labels={ds.get_data_info(k)['img_id']: ds.get_data_info(k)['gt_label'] for k in range(len(ds))},
                    modes=modes)

    VOC2COCO = {5: 44, 6: 6, 7: 3, 9: 62, 15: 1, 18: 63}  # bottle, bus, car, chair, person, sofa

    def build_coco():
        root = WORK / 'coco'
        ann = json.loads((EX / 'instance_segmentation/data_dataset_coco/annotations.json').read_text())
        by_name = {Path(i['file_name']).stem: i['id'] for i in ann['images']}
        ids = {'2011_000003': 3, '2011_000006': 6, '2011_000025': 25}
        stuff = WORK / 'stuffthingmaps_trainval2017'
        for split, names in (('train2014', ['2011_000003', '2011_000025', 'L:2011_000003', 'CMYK:2011_000025']),
                             ('val2014', ['2011_000006', 'L:2011_000006'])):
            images, anns = {}, []
            for n in names:
                mode, _, stem = n.rpartition(':')
                image_id = ids[stem] + (900000 if mode else 0) + (100000 if mode == 'CMYK' else 0)
                images[image_id] = photos[stem].convert(mode) if mode else photos[stem]
                for a in ann['annotations']:
                    if a['image_id'] == by_name[stem]:
                        anns.append(dict(a, image_id=image_id, category_id=VOC2COCO[a['category_id']]))
                m = masks[stem]
                lut = np.full(256, 120, np.uint8)  # background -> a stuff class (id 121)
                for v, c in VOC2COCO.items():
                    lut[v] = c - 1
                lut[255] = 255
                (stuff / 'train2017').mkdir(parents=True, exist_ok=True)
                Image.fromarray(lut[m], 'L').save(stuff / 'train2017' / f'{image_id:012d}.png')
            make_coco_tree(root, split, images, anns)
        tool('tools/dataset_converters/coco_wsss.py', [root, '--stuff', stuff])
        tool('tools/dataset_converters/check_dataset.py',
             [ROOT / 'configs/mctformer/mctformer-v2_deit-s_1xb64-60e_coco14-224.py', '--data-root', root, '--subset'])
        got = np.asarray(Image.open(root / 'SegmentationClass/train2014/COCO_train2014_000000000003.png'))
        return dict(train_id=(root / 'train_id.txt').read_text().split(), values=sorted(np.unique(got).tolist()))

    scenario('voc_layout', build_voc)
    scenario('coco_layout', build_coco)

    cc = runpy.run_path(str(ROOT / 'tools' / 'check_configs.py'))
    checker = cc['Checker'](WORK / 'runs', (0, 0))
    checker._roots['voc'] = str(WORK / 'data' / 'VOCdevkit' / 'VOC2012')
    for cfg in ('configs/demo/mctformer-v2_vit-4l128_synthetic-64.py', 'configs/demo/tscam_vit-4l128_synthetic-64.py',
                'configs/demo/transcam_conformer-6l128_synthetic-128.py',
                'configs/psa/affnet_resnet38d-tiny_1xb16-20e_synthvoc-128x128.py',
                'configs/deeplab/deeplabv1-largefov_resnet38d-tiny_1xb8-800i_synthvoc-64x64.py'):
        if out.get('voc_layout', {}).get('ok'):
            checker.check(ROOT / cfg)
    out['stages'] = [list(r) for r in checker.rows]

    def seeds():
        cams = WORK / 'runs' / 'runs' / 'mctformer-v2_vit-4l128_synthetic-64' / 'cams'
        root = Path(checker._roots['voc'])
        # the demo configs make the CAMs of train.txt; its first image, the one made here, is the grayscale photo
        (root / 'cam1.txt').write_text('2010_900003\n')
        tool('tools/analysis_tools/eval_seeds.py', ['--cam-dir', cams, '--data-root', root, '--split', 'cam1.txt',
                                                    '--out-dir', WORK / 'seeds'])
        report = json.loads((WORK / 'seeds' / 'seed_eval.json').read_text())
        return dict(cams=sorted(p.name for p in cams.iterdir()),
                    report=dict(num_images=report['num_images'], num_classes=report['num_classes']))
    scenario('seeds', seeds)
    print('RESULT ' + json.dumps(out))
''')


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    if not EXAMPLES.is_dir():
        pytest.skip('labelme-examples is not installed (as root: apt-get install -y labelme-examples; '
                    'tools/install.sh installs it in CI)')
    work = tmp_path_factory.mktemp('real_photos')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in os.environ.get(
        'PYTHONPATH', '').split(os.pathsep) if p]))
    proc = subprocess.run([sys.executable, '-c', SCRIPT, str(ROOT), str(work), str(EXAMPLES)], cwd=str(work), env=env,
                          capture_output=True, text=True, timeout=600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('RESULT ')]
    assert proc.returncode == 0 and lines, proc.stderr[-5000:]
    return json.loads(lines[-1][len('RESULT '):])


@pytest.mark.slow
def test_voc_layout_from_the_photos(run):
    res = run['voc_layout']
    assert res['ok'], res
    v = res['value']
    assert v['train_aug'] == ['2010_900003', '2010_900025', '2011_000003', '2011_000025']
    assert v['modes'] == {'2010_900003': 'L', '2010_900025': 'CMYK', '2011_900006': 'L'}
    # person 14, bottle 4 (difficult, still a label as PSA reads it), bus 5, car 6; the parts are not classes
    assert v['labels'] == {'2010_900003': [4, 14], '2010_900025': [5, 6], '2011_000003': [14],
                           '2011_000025': [5, 6]}


@pytest.mark.slow
def test_coco_layout_from_the_photos(run):
    res = run['coco_layout']
    assert res['ok'], res
    assert res['value']['train_id'] == ['COCO_train2014_000000000003', 'COCO_train2014_000000000025',
                                        'COCO_train2014_000000900003', 'COCO_train2014_000001000025']
    # person (id 1) -> 1, bottle (id 44) -> 40, the VOC boundary band 255; background 0
    assert res['value']['values'] == [0, 1, 40, 255]


@pytest.mark.slow
@pytest.mark.parametrize('config,step', [
    ('demo/mctformer-v2_vit-4l128_synthetic-64.py', 'train 2 iterations'),
    ('demo/mctformer-v2_vit-4l128_synthetic-64.py', 'CAMs of 1 image (its protocol)'),
    ('demo/tscam_vit-4l128_synthetic-64.py', 'train 2 iterations'),
    ('demo/tscam_vit-4l128_synthetic-64.py', 'CAMs of 1 image (its protocol)'),
    ('demo/transcam_conformer-6l128_synthetic-128.py', 'train 2 iterations'),
    ('demo/transcam_conformer-6l128_synthetic-128.py', 'CAMs of 1 image (its protocol)'),
    ('psa/affnet_resnet38d-tiny_1xb16-20e_synthvoc-128x128.py', 'train 1 iteration'),
    ('psa/affnet_resnet38d-tiny_1xb16-20e_synthvoc-128x128.py', 'masks of 2 images'),
    ('deeplab/deeplabv1-largefov_resnet38d-tiny_1xb8-800i_synthvoc-64x64.py', 'train 1 iteration'),
    ('deeplab/deeplabv1-largefov_resnet38d-tiny_1xb8-800i_synthvoc-64x64.py', 'test 1 image (--tta)'),
])
def test_stage_on_real_photos(run, config, step):
    rows = {(r[0], r[1]): r[3] for r in run['stages']}
    assert rows.get((config, step)) == 'ok', rows


@pytest.mark.slow
def test_seed_scores_of_real_photo_cams(run):
    res = run['seeds']
    assert res['ok'], res
    assert res['value']['cams'] == ['.mmdoei-record.json', '.mmdoei.lock', '2010_900003.npz']
    assert res['value']['report']['num_images'] == 1 and res['value']['report']['num_classes'] == 21
