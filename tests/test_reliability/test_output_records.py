"""mmdoei.utils.record: an output folder is resumed only by a run with the same inputs."""
import json

import pytest

from mmdoei.utils.locks import LockedError, folder_lock
from mmdoei.utils.record import RECORD_FILE, OutputRecord, claim, read_record, remove_stale_temporaries

FIELDS = dict(checkpoint='a' * 64, protocol=dict(scales=(1.0, ), flip=True), version='0.1.0')


def test_fingerprint_is_canonical():
    a = OutputRecord('cams', FIELDS)
    b = OutputRecord('cams', dict(version='0.1.0', protocol=dict(flip=True, scales=[1.0]), checkpoint='a' * 64))
    assert a.fingerprint == b.fingerprint and len(a.fingerprint) == 64
    assert OutputRecord('pseudo_masks', FIELDS).fingerprint != a.fingerprint
    assert OutputRecord('cams', dict(FIELDS, version='0.2.0')).fingerprint != a.fingerprint
    with pytest.raises(ValueError, match="unknown output kind 'maps'"):
        OutputRecord('maps', FIELDS)


def test_new_then_resume_then_refused(tmp_path):
    folder = tmp_path / 'cams'
    assert claim(folder, OutputRecord('cams', FIELDS)) == 'new'
    assert json.loads((folder / RECORD_FILE).read_text())['fields']['protocol'] == dict(scales=[1.0], flip=True)
    (folder / 'x.npz').write_bytes(b'cam')
    assert claim(folder, OutputRecord('cams', FIELDS)) == 'resume'
    other = OutputRecord('cams', dict(FIELDS, checkpoint='b' * 64, protocol=dict(scales=[1.0], flip=False)),
                         notes=dict(checkpoint='/ckpt/b.pth'))
    with pytest.raises(ValueError) as err:
        claim(folder, other)
    assert str(err.value) == (
        f'CAM folder {folder} holds outputs made with other settings (old -> new):\n'
        f'  checkpoint: "{"a" * 64}" -> "{"b" * 64}" (was ?, now /ckpt/b.pth)\n'
        '  protocol.flip: true -> false\n'
        'Nothing was reused or changed. Write elsewhere, or rerun tools/test.py --cam-out with --overwrite '
        '(overwrite=True in the API) to delete its outputs and start again.')
    assert (folder / 'x.npz').read_bytes() == b'cam' and read_record(folder).fingerprint != other.fingerprint


def test_outputs_without_a_record_are_refused(tmp_path):
    folder = tmp_path / 'masks'
    folder.mkdir()
    for i in range(5):
        (folder / f'{i}.png').write_bytes(b'png')
    with pytest.raises(ValueError, match=rf'^pseudo-mask folder {folder} holds outputs \(0.png, 1.png, 2.png and 2 '
                                         rf'more\) but no {RECORD_FILE} saying what made them'):
        claim(folder, OutputRecord('pseudo_masks', FIELDS))
    assert not (folder / RECORD_FILE).exists()


def test_overwrite_deletes_only_the_kinds_outputs(tmp_path):
    folder = tmp_path / 'cams'
    claim(folder, OutputRecord('cams', FIELDS))
    for rel in ('a.npz', 'overlays/a_cat.png', 'seed_eval/seed_eval.json', 'notes.txt', 'logs/run.log', 'a.png'):
        (folder / rel).parent.mkdir(exist_ok=True)
        (folder / rel).write_text('x')
    new = OutputRecord('cams', dict(FIELDS, checkpoint='c' * 64))
    assert claim(folder, new, overwrite=True) == 'overwritten'
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob('*')) == \
        sorted([RECORD_FILE, 'notes.txt', 'logs', 'logs/run.log', 'a.png'])
    assert read_record(folder).fingerprint == new.fingerprint
    # a matching record is recomputed too when asked to overwrite
    (folder / 'b.npz').write_text('x')
    assert claim(folder, new, overwrite=True) == 'overwritten' and not (folder / 'b.npz').exists()


def test_a_record_without_outputs_is_replaced(tmp_path):
    folder = tmp_path / 'cams'
    claim(folder, OutputRecord('cams', FIELDS))
    new = OutputRecord('cams', dict(FIELDS, checkpoint='d' * 64))
    assert claim(folder, new) == 'new' and read_record(folder).fingerprint == new.fingerprint


def test_corrupt_record_is_named(tmp_path):
    (tmp_path / RECORD_FILE).write_text('{"kind": ')
    with pytest.raises(ValueError, match=rf'^{tmp_path}/{RECORD_FILE}: not a readable mmdoei output record'):
        claim(tmp_path, OutputRecord('cams', FIELDS))


def test_stale_temporaries_go_only_under_the_lock(tmp_path):
    folder = tmp_path / 'cams'
    (folder / 'overlays').mkdir(parents=True)
    stale = [folder / '.a.npz.x1.tmp', folder / 'overlays' / '.a_cat.png.y2.tmp']
    for p in stale:
        p.write_bytes(b'half')
    (folder / 'keep.tmp').write_bytes(b'not ours')
    with folder_lock(folder, 'CAM folder'):
        assert sorted(remove_stale_temporaries(folder, 'cams')) == sorted(stale)
        with pytest.raises(LockedError, match=rf'^CAM folder {folder} is in use by another run'):
            with folder_lock(folder, 'CAM folder'):
                pass
    assert not any(p.exists() for p in stale) and (folder / 'keep.tmp').exists()


def test_an_oversized_record_is_refused_before_it_is_read(tmp_path):
    """An 8 GB record file gave a bare MemoryError: its size is checked first (a sparse file, nothing allocated;
    the 8 GB case runs under a memory cap in tests/test_tools/test_step_refusals.py)."""
    from mmdoei.utils.record import MAX_RECORD_BYTES, RecordError
    folder = tmp_path / 'cams'
    folder.mkdir()
    with open(folder / RECORD_FILE, 'wb') as f:
        f.truncate(MAX_RECORD_BYTES + 1)
    with pytest.raises(RecordError) as err:
        read_record(folder)
    assert str(err.value) == (
        f'{folder / RECORD_FILE}: not a readable mmdoei output record (ValueError: {MAX_RECORD_BYTES + 1} bytes, '
        f'more than a record holds ({MAX_RECORD_BYTES}); not read); delete it, and the outputs it described, to '
        'start this folder again')
    assert MAX_RECORD_BYTES == 4 * 2**20


def test_overwrite_refuses_an_output_behind_a_symbolic_link_and_deletes_nothing(tmp_path):
    """A CAM folder's overlays/ linked elsewhere: deleting it failed half-way (record gone, nameless OSError)."""
    folder, elsewhere = tmp_path / 'cams', tmp_path / 'elsewhere'
    claim(folder, OutputRecord('cams', FIELDS))
    (folder / 'x.npz').write_bytes(b'cam')
    elsewhere.mkdir()
    (elsewhere / 'x.png').write_bytes(b'overlay')
    (folder / 'overlays').symlink_to(elsewhere)
    with pytest.raises(ValueError) as err:
        claim(folder, OutputRecord('cams', dict(FIELDS, version='0.2.0')), overwrite=True)
    assert str(err.value) == (
        f'CAM folder {folder}: {folder}/overlays is a symbolic link (to {elsewhere}), and its outputs are not '
        'deleted through it. Nothing was deleted: replace the link by a folder (or write elsewhere) and rerun.')
    assert read_record(folder).fields == OutputRecord('cams', FIELDS).fields
    assert (folder / 'x.npz').is_file() and (elsewhere / 'x.png').is_file()
