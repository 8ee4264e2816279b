"""mmdoei.apis.steps: a step is skipped only when its fingerprint matches, redone when an input changed,
and never mixes outputs of two fingerprints in one folder.

A fake step function counts its calls and writes one output file; each kind of input (a config value, a
checkpoint file, an image list) is changed in turn.
"""
import json

import pytest

from mmdoei.apis.steps import Step, register_step_kind
from mmdoei.utils.record import RECORD_FILE, read_record

KIND = register_step_kind('test_step', 'test-step folder', files=('*.txt', ),
                          overwrite_hint='rerun with --overwrite (overwrite=True in the API)')


class Inputs:
    """The inputs of the fake step: a config value, a checkpoint file and an image list, all changeable."""

    def __init__(self, tmp_path):
        self.lr = 0.1
        self.ckpt = tmp_path / 'in' / 'model.pth'
        self.list = tmp_path / 'in' / 'train.txt'
        self.ckpt.parent.mkdir()
        self.ckpt.write_bytes(b'weights 1')
        self.list.write_text('2007_000001\n2007_000002\n')
        self.out = tmp_path / 'out'
        self.calls = 0

    def step(self) -> Step:
        return Step.of(KIND, self.out, config=dict(model=dict(lr=self.lr), work_dir=str(self.out)),
                       files=dict(checkpoint=self.ckpt), lists=dict(train=self.list))

    def fn(self) -> dict:
        self.calls += 1
        (self.out / 'result.txt').write_text(f'run {self.calls}\n')
        return dict(score=self.calls)


CHANGES = {
    'config value': ('config.model.lr: 0.1 -> 0.2', lambda x: setattr(x, 'lr', 0.2)),
    'checkpoint': ('files.checkpoint: ', lambda x: x.ckpt.write_bytes(b'weights 2')),
    'data list': ('lists.train: ', lambda x: x.list.write_text('2007_000001\n')),
}


@pytest.mark.parametrize('kind', sorted(CHANGES))
def test_a_changed_input_reruns_the_step_and_an_unchanged_rerun_recomputes_nothing(tmp_path, kind):
    x = Inputs(tmp_path)
    assert x.step().run(x.fn) == dict(score=1) and x.calls == 1
    record = x.out / RECORD_FILE
    stamps = {p: p.stat().st_mtime_ns for p in (record, x.out / 'result.txt')}
    # unchanged (even the work_dir, which never decides an output): skipped, its results handed back
    assert x.step().status() == 'done'
    assert x.step().run(x.fn) == dict(score=1) and x.calls == 1
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps

    field, change = CHANGES[kind]
    change(x)
    assert x.step().status() == 'changed'
    # the folder holds the other fingerprint's outputs: refused, nothing run or deleted
    with pytest.raises(ValueError) as err:
        x.step().run(x.fn)
    msg = str(err.value)
    assert msg.startswith(f'test-step folder {x.out} holds outputs made with other settings (old -> new):\n  {field}')
    assert msg.count('\n  ') == 1  # only the changed input differs
    assert msg.endswith('Nothing was reused or changed. Write elsewhere, or rerun with --overwrite '
                        '(overwrite=True in the API) to delete its outputs and start again.')
    assert x.calls == 1 and (x.out / 'result.txt').read_text() == 'run 1\n'
    # with overwrite the old outputs go and the step reruns once
    assert x.step().run(x.fn, overwrite=True) == dict(score=2) and x.calls == 2
    assert read_record(x.out).fingerprint == x.step().fingerprint
    assert json.loads(record.read_text())['results'] == dict(score=2)
    # and then it is done again: overwrite never redoes a finished step of the same inputs
    assert x.step().run(x.fn, overwrite=True) == dict(score=2) and x.calls == 2


def test_a_killed_step_resumes_and_outputs_without_a_record_are_refused(tmp_path):
    x = Inputs(tmp_path)

    def killed():
        (x.out / 'partial.txt').write_text('half\n')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        x.step().run(killed)
    assert read_record(x.out).results is None  # the record says: these inputs, unfinished
    assert x.step().status() == 'resume'
    assert x.step().run(x.fn) == dict(score=1) and (x.out / 'partial.txt').is_file()  # resumed, not wiped
    # files without a record (an older mmdoei, by hand) are never taken for this step's outputs
    (x.out / RECORD_FILE).unlink()
    with pytest.raises(ValueError, match=rf'^test-step folder {x.out} holds outputs \(partial.txt, result.txt\) '
                       rf'but no {RECORD_FILE} saying what made them'):
        x.step().run(x.fn)
    assert x.calls == 1


def test_registering_a_kind_again_with_other_outputs_is_refused():
    assert register_step_kind('test_step', 'test-step folder', files=('*.txt', )) == KIND
    with pytest.raises(ValueError, match=r"output kind 'test_step' is already registered with other outputs"):
        register_step_kind('test_step', 'test-step folder', files=('*.npz', ))


def test_the_demo_training_folder_deletes_only_mmengines_files_and_says_elsewhere_once(tmp_path):
    """The stage-1 run's kind (the demo's and the sweep's training folders) deleted every ``*.pth``: a user's
    ``my_backup.pth`` went with --overwrite. Its refusal read "Write elsewhere, or rerun with --overwrite (...),
    or write elsewhere to delete its outputs"."""
    from mmdoei.apis.pipeline import STAGE1_RUN
    folder = tmp_path / 'mctformer-v2'
    Step(STAGE1_RUN, folder, dict(epochs=1)).run(lambda: {})
    made = ['epoch_1.pth', 'iter_5.pth', 'best_mIoU_epoch_1.pth', 'last_checkpoint', 'train_seconds.txt',
            '20990101_000000/20990101_000000.log']
    mine = ['my_backup.pth', 'notes.txt', 'vit.py']
    for rel in made + mine:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(rel)
    other = Step(STAGE1_RUN, folder, dict(epochs=2))
    with pytest.raises(ValueError) as err:
        other.run(lambda: {})
    assert str(err.value).endswith('\nNothing was reused or changed. Write elsewhere, or rerun with --overwrite '
                                   '(overwrite=True in the API) to delete its outputs and start again.')
    assert str(err.value).count('elsewhere') == 1
    other.run(lambda: {}, overwrite=True)
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob('*') if p.is_file()) == sorted(
        mine + ['.mmdoei-record.json', '.mmdoei.lock'])
