"""Property test of ``DOEIConfig.from_dict``: any dict gives a config holding
exactly its values, or an error that starts with ``DOEI:`` and names the key."""
import math
from dataclasses import fields

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from mmdoei.doei import DOEIConfig

KNOWN = [f.name for f in fields(DOEIConfig)]
any_value = st.one_of(st.none(), st.booleans(), st.integers(-5, 50), st.floats(allow_nan=True, allow_infinity=True),
                      st.text(max_size=6), st.sampled_from(['self', 'class']), st.lists(st.integers(), max_size=2),
                      st.builds(np.float32, st.floats(-2, 2, width=32)), st.builds(np.int64, st.integers(0, 20)),
                      st.builds(np.bool_, st.booleans()))
any_key = st.one_of(st.sampled_from(KNOWN + ['type']), st.text(max_size=8), st.integers())


def _valid(name, value) -> bool:
    """The contract, written independently of DOEIConfig's checks."""
    is_bool = isinstance(value, (bool, np.bool_))
    number = not is_bool and isinstance(value, (int, float, np.integer, np.floating))
    if name in ('st_p2c', 'st_c2c'):
        return number and math.isfinite(value) and value >= 0
    if name in ('af_p2c', 'af_c2c', 'sf_p2c', 'sf_c2c'):
        return number and math.isfinite(value)
    if name == 'alpha':
        return number and 0 <= value <= 1
    if name == 'layers':
        return value is None or (number and isinstance(value, (int, np.integer)) and value >= 0)
    if name == 'num_class_tokens':
        return value is None or (number and isinstance(value, (int, np.integer)) and value >= 1)
    if name in ('ppdo', 'cpdo', 'in_train', 'detach_scores'):
        return is_bool
    if name == 'ppdo_suppress':
        return isinstance(value, str) and value in ('self', 'class')
    return name == 'type'


@given(cfg=st.dictionaries(any_key, any_value, max_size=6))
@example(cfg={'alpha': 'high'})  # was a TypeError from `0 <= 'high'`, naming no option
@example(cfg={'st_p2c': float('nan')})  # was accepted, then NaN everywhere in the attention
@example(cfg={1: 0.5, 'x': 1})  # was a TypeError from sorting mixed keys
@example(cfg={'ppdo_suppress': ['self']})
@example(cfg={'layers': 2.5})
def test_from_dict(cfg):
    unknown = [k for k in cfg if k not in KNOWN and k != 'type']
    bad = [k for k, v in cfg.items() if k in KNOWN and not _valid(k, v)]
    try:
        doei = DOEIConfig.from_dict(cfg)
    except (KeyError, ValueError) as e:
        message = e.args[0]
        assert message.startswith('DOEI:'), message
        assert unknown or bad, f'valid settings {cfg} refused: {message}'
        if unknown:
            assert isinstance(e, KeyError) and repr(sorted(unknown, key=repr)[0]) in message
        else:
            assert any(f'{k} must' in message for k in bad), message
        return
    assert not unknown and not bad, f'{cfg} accepted'
    for k, v in cfg.items():
        if k != 'type':
            assert getattr(doei, k) == v


@pytest.mark.parametrize('cfg', [[('alpha', 0.1)], 'alpha=0.1', 3])
def test_from_dict_refuses_non_dicts(cfg):
    with pytest.raises(TypeError, match='DOEI: the settings must be a dict'):
        DOEIConfig.from_dict(cfg)
