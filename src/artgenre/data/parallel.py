"""Map a function over many files in worker processes, in order, with a progress bar."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")


def worker_count(requested: int) -> int:
    """The requested worker count, capped by the CPUs this process may use; 0 or 1 means in-process."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        available = os.cpu_count() or 1
    return max(0, min(requested, available))


def parallel_map(
    fn: Callable[[T], R],
    items: Sequence[T],
    workers: int,
    desc: str,
    progress: bool,
    initializer: Callable[..., None] | None = None,
    initargs: tuple = (),
    chunksize: int | None = None,
) -> Iterator[R]:
    """``fn`` over ``items`` in order. ``initializer(*initargs)`` runs once per worker (and once
    here when running in-process) to set up what every call shares, instead of pickling it per item.
    ``chunksize``: items per task (default: about eight tasks per worker, at most 32 items each);
    larger keeps neighbouring items in one worker (rows of one parquet row group)."""
    bar_off = None if progress else True  # None: a bar on a terminal only, never in log files
    workers = worker_count(workers)
    if workers <= 1 or len(items) < 8:
        if initializer is not None:
            initializer(*initargs)
        results: Iterable[R] = map(fn, items)
        yield from tqdm(results, total=len(items), desc=desc, disable=bar_off, leave=False)
        return
    chunk = chunksize or max(1, min(32, len(items) // (workers * 8)))
    with ProcessPoolExecutor(workers, initializer=initializer, initargs=initargs) as pool:
        yield from tqdm(pool.map(fn, items, chunksize=chunk), total=len(items), desc=desc, disable=bar_off,
                        leave=False)
