"""Timing helpers shared by the benchmarks: interleaved rounds, medians, a table."""
import statistics
import time
from typing import Callable, Dict, List, Sequence

import torch


def time_interleaved(fns: Dict[str, Callable[[], object]], repeats: int = 7,
                     warmup: int = 2) -> Dict[str, List[float]]:
    """Seconds per call of each function, measured in rounds (one call of each per
    round) so that drift in machine load affects all of them alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: Dict[str, List[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def median_ms(samples: Sequence[float]) -> float:
    return 1000 * statistics.median(samples)


def table(rows: List[List[str]], header: List[str]) -> str:
    """A markdown table."""
    out = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    out += ['| ' + ' | '.join(r) + ' |' for r in rows]
    return '\n'.join(out)


def env_line() -> str:
    return (f'torch {torch.__version__}, {torch.get_num_threads()} threads, '
            f'CUDA {"yes" if torch.cuda.is_available() else "no"}')
