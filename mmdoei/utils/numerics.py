"""One set of CPU kernels on any AVX2 x86-64 machine: the pin of the demo and the pretraining.

torch picks its kernels by the CPU it runs on, in three libraries, each once,
from the environment it finds when it first runs a kernel:

* ATen's vectorised kernels (``ATEN_CPU_CAPABILITY``: default, avx2, avx512),
* MKL's BLAS (``MKL_CBWR``: unset means no reproducibility mode at all;
  ``AVX2`` is a branch on Intel CPUs only, and on AMD it falls back to
  ``AUTO``, i.e. to the CPU's own branch; ``COMPATIBLE`` is the one branch
  MKL documents for Intel and non-Intel CPUs alike),
* oneDNN's convolutions and matmuls (``ONEDNN_MAX_CPU_ISA``).

Each changes the last bits of the losses: in a 16-iteration pretraining every
one of the three variables, set alone, gave other final weights than the
machine's choice (docs/user_guides/demo.md has the table). So an AMD
EPYC with AVX2 and an Intel CPU with AVX-512 trained different backbones and
printed different demo tables. :func:`pin_cpu_numerics` sets the three to
levels every AVX2 CPU has, before torch is imported. Stdlib only: the tools
load this file before ``import mmdoei`` (which imports torch).
"""
import os
import sys
from typing import Dict, List, MutableMapping, Optional, Set

#: The pinned values: ATen's and oneDNN's AVX2 kernels, MKL's vendor-neutral branch.
PINNED: Dict[str, str] = {'ATEN_CPU_CAPABILITY': 'avx2', 'MKL_CBWR': 'COMPATIBLE', 'ONEDNN_MAX_CPU_ISA': 'AVX2'}
#: The CPU flags (as /proc/cpuinfo spells them) the AVX2 kernels need: ATen's avx2 level asks for FMA too.
REQUIRED_FLAGS = frozenset({'avx2', 'fma'})
#: The values each library knows (torch 2.14, MKL 2024, oneDNN 3.x docs); another is ignored or falls back to the
#: library's own choice, so the tools say so instead of echoing it as if it were in effect.
KNOWN: Dict[str, Set[str]] = {
    'ATEN_CPU_CAPABILITY': {'default', 'avx2', 'avx512'},
    'MKL_CBWR': {'AUTO', 'COMPATIBLE', 'SSE2', 'SSSE3', 'SSE4_1', 'SSE4_2', 'AVX', 'AVX2', 'AVX512', 'AVX512_E1',
                 'AVX512_MIC', 'AVX512_MIC_E1'},
    'ONEDNN_MAX_CPU_ISA': {'SSE41', 'AVX', 'AVX2', 'AVX2_VNNI', 'AVX2_VNNI_2', 'AVX512_CORE', 'AVX512_CORE_VNNI',
                           'AVX512_CORE_BF16', 'AVX512_CORE_FP16', 'AVX512_CORE_AMX', 'AVX512_CORE_AMX_FP16', 'ALL',
                           'DEFAULT'},
}


def known_value(name: str, value: str) -> bool:
    """Whether ``value`` of variable ``name`` is one its library knows (MKL_CBWR may add ``,STRICT``)."""
    if name == 'MKL_CBWR':
        parts = [v.strip().upper() for v in value.split(',')]
        return parts[0] in KNOWN[name] and all(v == 'STRICT' for v in parts[1:])
    return (value.lower() if name == 'ATEN_CPU_CAPABILITY' else value.upper()) in KNOWN[name]


#: Where the lines printed by the tools point for the reasons.
DOC = 'docs/user_guides/demo.md'


def cpu_flags(cpuinfo: str = '/proc/cpuinfo') -> Optional[Set[str]]:
    """The CPU's feature flags from ``cpuinfo`` (Linux), or None where that file cannot be read (another OS)."""
    try:
        with open(cpuinfo, encoding='utf-8', errors='replace') as f:
            for line in f:
                if line.startswith('flags'):
                    return set(line.split(':', 1)[1].split())
    except OSError:
        return None
    return set()  # readable but without flags (e.g. an ARM CPU's 'Features'): no AVX2


def pin_cpu_numerics(environ: Optional[MutableMapping[str, str]] = None, flags: Optional[Set[str]] = None,
                     enabled: bool = True, torch_loaded: Optional[bool] = None,
                     cpuinfo: str = '/proc/cpuinfo') -> List[str]:
    """Set :data:`PINNED` in ``environ`` (default ``os.environ``) where a variable is unset, and say so.

    Args:
        environ: The environment to update (``os.environ``: the process and
            the subprocesses and data-loader workers it starts).
        flags: The CPU's flags (default: :func:`cpu_flags` of ``cpuinfo``);
            without :data:`REQUIRED_FLAGS` nothing is set, since an AVX2 pin
            cannot run there, nor where the flags cannot be read.
        enabled: False (the tools' ``--no-cpu-pin``) leaves the machine's choice.
        torch_loaded: Whether torch is already imported (default: looked up in
            ``sys.modules``); then the libraries have read their variables, a
            pin would not take effect and nothing is set.
        cpuinfo: Where the flags are read when ``flags`` is not given.

    Returns:
        The lines the tools print: every variable's value and where it came
        from. A value the user set wins and is named as theirs.
    """
    environ = os.environ if environ is None else environ
    torch_loaded = 'torch' in sys.modules if torch_loaded is None else torch_loaded
    if not enabled:
        return ['[cpu-pin] off (--no-cpu-pin): the kernels are the machine\'s choice, the last digits may differ '
                f'from the README\'s ({DOC})']
    if torch_loaded:
        return ['[cpu-pin] not applied: torch was imported before the pin, and its libraries read '
                f'{", ".join(PINNED)} when they load; run the tool as a script ({DOC})']
    flags = cpu_flags(cpuinfo) if flags is None else flags
    if flags is None or not REQUIRED_FLAGS <= flags:
        have = 'unknown (no /proc/cpuinfo)' if flags is None else f'lacks {", ".join(sorted(REQUIRED_FLAGS - flags))}'
        return [f'[cpu-pin] not applied: this CPU {have}; the pinned AVX2 kernels cannot run here, so the last '
                f'digits may differ from the README\'s ({DOC})']
    parts = []
    for name, value in PINNED.items():
        mine = environ.get(name)
        if mine is None or mine == '':
            environ[name] = value
            parts.append(f'{name}={value}')
        elif mine == value:
            parts.append(f'{name}={value} (set by you, the pinned value)')
        elif not known_value(name, mine):
            parts.append(f'{name}={mine} (set by you, not a value the library knows ({", ".join(sorted(KNOWN[name]))}):'
                         ' it falls back to its own choice, so the last digits may differ from the README\'s)')
        else:
            parts.append(f'{name}={mine} (set by you, not the pinned {value}: the last digits may differ from the '
                         'README\'s)')
    return [f'[cpu-pin] {"; ".join(parts)} ({DOC}; --no-cpu-pin leaves the machine\'s choice)']
