"""``import mmdoei`` against importing the four libraries it is built on, side by side.

    python benchmarks/import_time.py [-n 5]

Runs N fresh interpreters (``sys.executable -c ...``) of each of
``import torch, mmengine, mmpretrain, mmseg`` and ``import mmdoei``,
interleaved (host, mmdoei, host, mmdoei, ...) so that a change in the
machine's load hits both alike, and prints a markdown table of the median
wall times and their ratio (the goal: within 1.5x). Each time is measured
inside the interpreter, around the import statement alone, so interpreter
start-up is not counted. Run it on a quiet machine: the load average is
printed with the table.
"""
import argparse
import os
import os.path as osp
import statistics
import subprocess
import sys
from typing import Dict, List, Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
IMPORTS = {
    'torch, mmengine, mmpretrain, mmseg': 'import torch, mmengine, mmpretrain, mmseg',
    'mmdoei': 'import mmdoei',
}
PROBE = 'import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)'


def time_import(stmt: str) -> float:
    """Seconds ``stmt`` takes in a fresh interpreter (run from the repository root, so its mmdoei is imported)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get('PYTHONPATH')])))
    res = subprocess.run([sys.executable, '-c', PROBE.format(stmt=stmt)], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f'{stmt!r} failed in a fresh interpreter:\n{res.stderr[-2000:]}')
    return float(res.stdout.strip().splitlines()[-1])


def measure(n: int) -> Dict[str, List[float]]:
    """``n`` times of each of :data:`IMPORTS`, interleaved."""
    times: Dict[str, List[float]] = {name: [] for name in IMPORTS}
    for _ in range(n):
        for name, stmt in IMPORTS.items():
            times[name].append(time_import(stmt))
    return times


def table(times: Dict[str, List[float]]) -> str:
    """The markdown table: median, min and max seconds per import, and the ratio of the medians."""
    host, ours = (statistics.median(times[name]) for name in IMPORTS)
    lines = ['| import | median s | min s | max s | runs |', '|---|---|---|---|---|']
    for name, values in times.items():
        lines.append(f'| `{IMPORTS[name]}` | {statistics.median(values):.2f} | {min(values):.2f} | '
                     f'{max(values):.2f} | {len(values)} |')
    lines.append(f'\nratio of the medians (mmdoei / the four libraries): {ours / host:.2f}x')
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-n', type=int, default=5, help='fresh interpreters per import (default 5)')
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error('-n must be at least 1')
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    times = measure(args.n)
    print(table(times))
    print(f'load average (1 min) at the start: {load:.2f}; python {sys.version.split()[0]}')


if __name__ == '__main__':
    main()
