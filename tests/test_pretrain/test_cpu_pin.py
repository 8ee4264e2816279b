"""The CPU-kernel pin of tools/pretrain.py and tools/demo.py (issue 25): under it, an 8-iteration pretraining
gives the same loss bits and final weights whether ATEN_CPU_CAPABILITY is left to the machine or set to avx2
(what an AVX2-only CPU picks), and without it (--no-cpu-pin) the weights differ on a machine with AVX-512.
The shipped backbone is what tools/pretrain.py trains: ``--verify 8`` from another folder retrains its first
8 iterations on the real config and gets the bits its meta records."""
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from mmdoei.engine.hooks import weights_sha256
from mmdoei.utils.numerics import DOC, PINNED, cpu_flags, pin_cpu_numerics

ROOT = Path(__file__).resolve().parents[2]
FLAGS = cpu_flags() or set()
HAS_AVX2 = {'avx2', 'fma'} <= FLAGS
HAS_AVX512 = {'avx512f', 'avx512bw', 'avx512dq', 'avx512vl'} <= FLAGS  # ATen's avx512 level

# 5 classes x 3 images, batch 4: 4 iterations an epoch, 2 epochs, every loss logged; one thread (the pin is
# about kernels, not threads; the thread count is pinned by the config's NumThreadsHook).
TINY = ['default_hooks.num_threads.num_threads=1', 'train_cfg.max_epochs=2', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1', 'log_processor.window_size=1',
        'train_dataloader.batch_size=4', 'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False', 'model.head.num_classes=5',
        'data_preprocessor.num_classes=5', 'log_level=WARNING', 'procedural_data.num_classes=5',
        'procedural_data.num_train=3', 'procedural_data.num_val=1']
# name: (ATEN_CPU_CAPABILITY or None for the machine's choice, whether the pin is on)
SCENARIOS = {'pinned': (None, True), 'pinned_avx2': ('avx2', True),
             'unpinned': (None, False), 'unpinned_avx2': ('avx2', False)}


def _run(tmp: Path, name: str) -> dict:
    """One tools/pretrain.py run as a user starts it: a fresh interpreter, the variables as the scenario says."""
    aten, pin = SCENARIOS[name]
    env = {k: v for k, v in os.environ.items() if k not in PINNED}
    if aten:
        env['ATEN_CPU_CAPABILITY'] = aten
    work = tmp / name
    cmd = [sys.executable, str(ROOT / 'tools/pretrain.py'), '--config',
           str(ROOT / 'configs/pretrain/vit-6l128_1xb64-15e_procedural-64.py'), '--out', str(work / 'out.pth'),
           '--data-root', str(work / 'data'), '--work-dir', str(work / 'wd'), '--cfg-options', *TINY]
    res = subprocess.run(cmd + ([] if pin else ['--no-cpu-pin']), env=env, capture_output=True, text=True,
                         timeout=600)
    out = dict(returncode=res.returncode, stdout=res.stdout, stderr=res.stderr[-3000:])
    if res.returncode == 0:
        rows = [json.loads(line) for line in next(work.glob('wd/*/vis_data/scalars.json')).read_text().splitlines()]
        ckpt = torch.load(work / 'out.pth', map_location='cpu', weights_only=True)
        out.update(losses=[(r['iter'], r['loss']) for r in rows if 'loss' in r],
                   sha256=weights_sha256(ckpt['state_dict']),
                   kernels=ckpt['meta'].get('cpu_kernels'))
    return out


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """The four runs, two at a time (each trains on one thread; the import is most of their time)."""
    if not HAS_AVX2:
        pytest.skip('this CPU has no AVX2+FMA: the pin does not apply here')
    tmp = tmp_path_factory.mktemp('cpu_pin')
    with ThreadPoolExecutor(2) as pool:
        return dict(zip(SCENARIOS, pool.map(lambda name: _run(tmp, name), SCENARIOS)))


def _ok(run: dict) -> dict:
    assert run['returncode'] == 0, run['stderr']
    return run


@pytest.mark.slow
def test_pinned_pretraining_gives_the_same_bits_whatever_aten_capability(runs):
    left, avx2 = _ok(runs['pinned']), _ok(runs['pinned_avx2'])
    assert [i for i, _ in left['losses']] == list(range(1, 9))
    assert left['losses'] == avx2['losses']  # floats from the json: bit for bit
    assert left['sha256'] == avx2['sha256']
    pinned = dict(aten='AVX2', MKL_CBWR='COMPATIBLE', ONEDNN_MAX_CPU_ISA='AVX2')
    assert left['kernels'] == avx2['kernels'] == pinned  # what torch itself reported in the run
    assert (f'[cpu-pin] ATEN_CPU_CAPABILITY=avx2; MKL_CBWR=COMPATIBLE; ONEDNN_MAX_CPU_ISA=AVX2 ({DOC}; '
            "--no-cpu-pin leaves the machine's choice)") in left['stdout']
    assert '[cpu-pin] ATEN_CPU_CAPABILITY=avx2 (set by you, the pinned value); MKL_CBWR=COMPATIBLE;' in avx2['stdout']


@pytest.mark.slow
@pytest.mark.skipif(not HAS_AVX512, reason="no AVX-512: the machine's ATen level is avx2 already, nothing to tell")
def test_without_the_pin_the_machine_choice_changes_the_weights(runs):
    left, avx2 = _ok(runs['unpinned']), _ok(runs['unpinned_avx2'])
    assert left['kernels'] == dict(aten='AVX512', MKL_CBWR=None, ONEDNN_MAX_CPU_ISA=None)
    assert avx2['kernels'] == dict(aten='AVX2', MKL_CBWR=None, ONEDNN_MAX_CPU_ISA=None)
    # measured: the 8 losses agree to the bit here, the final weights do not (16 iterations: the losses too)
    assert left['sha256'] != avx2['sha256']
    assert left['sha256'] != _ok(runs['pinned'])['sha256']
    assert "[cpu-pin] off (--no-cpu-pin): the kernels are the machine's choice" in left['stdout']


SHIPPED = ROOT / 'checkpoints' / 'vit-6l128_procedural-64.pth'


@pytest.mark.slow
def test_tools_pretrain_retrains_the_shipped_backbones_first_iterations(tmp_path):
    meta = torch.load(SHIPPED, map_location='cpu', weights_only=True)['meta']
    assert meta['cpu_kernels'] == dict(aten='AVX2', MKL_CBWR='COMPATIBLE', ONEDNN_MAX_CPU_ISA='AVX2')
    assert sorted(meta['weights_trace']) == ['100', '1000', '8'] and meta['val_top1'] >= 46.6
    env = {k: v for k, v in os.environ.items() if k not in PINNED}
    # as a user runs it: from another folder, the default config and reference, only the data kept aside
    res = subprocess.run([sys.executable, str(ROOT / 'tools/pretrain.py'), '--verify', '8', '--data-root',
                          str(tmp_path / 'procedural')], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=900)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    losses = [line for line in res.stdout.splitlines() if line.startswith('[verify] iteration')]
    assert [line.split(':')[0] for line in losses] == [f'[verify] iteration {i}' for i in range(1, 9)]
    assert (f'[verify] weights after iteration 8: sha256 {meta["weights_trace"]["8"]}: the same bits as {SHIPPED} '
            f'({meta["weights_trace"]["8"]})') in res.stdout
    # the checkpoint's own sha256 is of the weights it holds
    assert weights_sha256(torch.load(SHIPPED, map_location='cpu', weights_only=True)['state_dict']) == \
        meta['weights_sha256']


def test_verify_refuses_a_backbone_without_the_iteration_before_training(tmp_path):
    ref = tmp_path / 'ref.pth'
    torch.save({'meta': {'weights_trace': {'8': 'ab' * 32}}, 'state_dict': {}}, ref)
    from mmdoei.apis.pretrain import verify_pretraining
    with pytest.raises(ValueError, match=rf'^{ref}: no weights trace at iteration 7 \(it has \[8\]\)$'):
        verify_pretraining(7, str(ref), data_root=str(tmp_path / 'never_written'))
    assert not (tmp_path / 'never_written').exists()


def test_the_pin_fills_only_unset_variables_and_names_the_users():
    env = {'MKL_CBWR': 'AUTO', 'ONEDNN_MAX_CPU_ISA': 'AVX2', 'PATH': '/bin'}
    lines = pin_cpu_numerics(env, flags={'avx2', 'fma', 'sse2'}, torch_loaded=False)
    assert env == {'MKL_CBWR': 'AUTO', 'ONEDNN_MAX_CPU_ISA': 'AVX2', 'PATH': '/bin', 'ATEN_CPU_CAPABILITY': 'avx2'}
    assert lines == [f'[cpu-pin] ATEN_CPU_CAPABILITY=avx2; MKL_CBWR=AUTO (set by you, not the pinned COMPATIBLE: '
                     "the last digits may differ from the README's); ONEDNN_MAX_CPU_ISA=AVX2 (set by you, the "
                     f"pinned value) ({DOC}; --no-cpu-pin leaves the machine's choice)"]
    empty = {'ATEN_CPU_CAPABILITY': ''}  # an empty variable is no choice: torch would take the machine's
    pin_cpu_numerics(empty, flags={'avx2', 'fma'}, torch_loaded=False)
    assert empty == PINNED


def test_the_pin_sets_nothing_where_it_cannot_hold(tmp_path):
    for flags, why in (({'avx', 'sse2', 'fma'}, 'this CPU lacks avx2;'), ({'avx2'}, 'this CPU lacks fma;'),
                       (set(), 'this CPU lacks avx2, fma;'), (None, 'this CPU unknown (no /proc/cpuinfo);')):
        env = {}
        lines = pin_cpu_numerics(env, flags=flags, torch_loaded=False, cpuinfo=str(tmp_path / 'missing'))
        assert env == {} and len(lines) == 1 and lines[0].startswith(f'[cpu-pin] not applied: {why}'), lines
    env = {}
    assert pin_cpu_numerics(env, flags={'avx2', 'fma'}, torch_loaded=True) == [
        '[cpu-pin] not applied: torch was imported before the pin, and its libraries read ATEN_CPU_CAPABILITY, '
        f'MKL_CBWR, ONEDNN_MAX_CPU_ISA when they load; run the tool as a script ({DOC})']
    assert env == {}
    assert pin_cpu_numerics(env, flags={'avx2', 'fma'}, enabled=False, torch_loaded=False)[0].startswith(
        "[cpu-pin] off (--no-cpu-pin): the kernels are the machine's choice") and env == {}


def test_cpu_flags_reads_the_flags_line(tmp_path):
    info = tmp_path / 'cpuinfo'
    info.write_text('processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\nbugs\t\t: spectre_v1\n')
    assert cpu_flags(str(info)) == {'fpu', 'sse2', 'avx2', 'fma'}
    info.write_text('processor\t: 0\nFeatures\t: fp asimd\n')  # an ARM CPU
    assert cpu_flags(str(info)) == set()
    assert cpu_flags(str(tmp_path / 'missing')) is None


def test_both_tools_offer_the_opt_out_in_their_help():
    for tool in ('tools/pretrain.py', 'tools/demo.py'):
        res = subprocess.run([sys.executable, str(ROOT / tool), '--help'], capture_output=True, text=True,
                             timeout=60)
        assert res.returncode == 0, res.stderr
        text = ' '.join(res.stdout.split())
        assert '--no-cpu-pin leave the CPU kernels to the machine (default: ATEN_CPU_CAPABILITY=avx2, ' \
               'MKL_CBWR=COMPATIBLE, ONEDNN_MAX_CPU_ISA=AVX2 where unset' in text, (tool, text)
