"""The srun command lines tools/slurm_*.sh build (through tools/slurm_srun.sh), read back through a
stand-in ``srun``.

The scripts run for real on a one-node Slurm in tests/test_engine/test_multinode.py
(CPU, no ``--gres``); this checks the GPU defaults and the quoting without a cluster.
"""
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Records its arguments and PYTHONPATH instead of starting anything.
FAKE_SRUN = """#!/usr/bin/env python3
import json, os, sys
with open(os.environ['SRUN_RECORD'], 'w') as f:
    json.dump(dict(argv=sys.argv[1:], pythonpath=os.environ.get('PYTHONPATH')), f)
"""


def run_script(tmp_path: Path, script: str, *args: str, **env: str) -> dict:
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir(exist_ok=True)
    srun = bin_dir / 'srun'
    srun.write_text(FAKE_SRUN)
    srun.chmod(srun.stat().st_mode | stat.S_IXUSR)
    record = tmp_path / 'srun.json'
    base = {k: v for k, v in os.environ.items()
            if k not in ('GPUS', 'GPUS_PER_NODE', 'CPUS_PER_TASK', 'GRES', 'SRUN_ARGS', 'PYTHON', 'PYTHONPATH')}
    res = subprocess.run(['bash', str(ROOT / 'tools' / script), *args], capture_output=True, text=True,
                         env=dict(base, PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}',
                                  SRUN_RECORD=str(record), **env))
    assert res.returncode == 0, res.stderr
    return json.loads(record.read_text())


def test_train_script_asks_for_gpus_by_default(tmp_path):
    rec = run_script(tmp_path, 'slurm_train.sh', 'part', 'job', 'cfg.py', 'work dir', '--cfg-options', 'a=1')
    tools = str(ROOT / 'tools')
    assert rec['argv'] == [
        '-p', 'part', '--job-name=job', '--gres=gpu:8', '--ntasks=8', '--ntasks-per-node=8', '--cpus-per-task=5',
        '--kill-on-bad-exit=1', 'python', '-u', f'{tools}/train.py', 'cfg.py', '--work-dir=work dir',
        '--launcher=slurm', '--cfg-options', 'a=1']
    assert rec['pythonpath'] == f'{tools}/..'  # no empty entry (the current folder) when PYTHONPATH was unset


@pytest.mark.parametrize('gres', ['', 'gpu:a100:2'])
def test_test_script_on_cpu_nodes_and_with_a_gres_of_choice(tmp_path, gres):
    rec = run_script(tmp_path, 'slurm_test.sh', 'debug', 'cams', 'cfg.py', 'ck.pth', '--cam-out', 'out dir',
                     GPUS='4', GPUS_PER_NODE='2', CPUS_PER_TASK='1', GRES=gres, PYTHON='/opt/py/bin/python',
                     SRUN_ARGS='--mem=0 --exclusive', PYTHONPATH='/extra')
    tools = str(ROOT / 'tools')
    assert rec['argv'] == [
        '-p', 'debug', '--job-name=cams', *([f'--gres={gres}'] if gres else []), '--ntasks=4',
        '--ntasks-per-node=2', '--cpus-per-task=1', '--kill-on-bad-exit=1', '--mem=0', '--exclusive',
        '/opt/py/bin/python', '-u', f'{tools}/test.py', 'cfg.py', 'ck.pth', '--launcher=slurm', '--cam-out',
        'out dir']
    assert rec['pythonpath'] == f'{tools}/..:/extra'
