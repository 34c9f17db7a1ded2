"""Stopping cleanly when the cluster asks: SIGUSR1 (Slurm's warning before the time limit) or SIGTERM.

The signal handler only sets a flag. The training loop asks at step boundaries whether any
rank has seen it (:class:`StopCheck`), so every rank leaves the loop after the same step and
nobody is left waiting in a collective. The run then ends with :data:`EXIT_CODE`; the
checkpoint on disk is the one written at the end of the last finished epoch, and a resumed
run restarts the interrupted epoch from its beginning (see README, "Clusters").

Under torchrun the agent receives the signal and passes SIGTERM on to its workers (it does
so for SIGTERM on every torch version; SIGUSR1 would kill the agent itself), which is why the
Slurm scripts forward their SIGUSR1 to torchrun as SIGTERM.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from types import FrameType
from typing import Any, Callable, Iterator, Optional

from artgenre.runtime import distributed

EXIT_CODE = 75  # EX_TEMPFAIL (sysexits.h): stopped on request, run it again to continue
STOP_SIGNALS = (signal.SIGUSR1, signal.SIGTERM)

_received: Optional[int] = None  # the first stop signal this process got


class StopRequested(Exception):
    """All ranks agreed to stop after a stop signal; the run continues from its last checkpoint."""

    def __init__(self) -> None:
        super().__init__(
            f"stopped on {received_name()}; checkpoints/last.pt holds the last finished epoch, "
            "and the same command with the same run directory continues from there"
        )


def requested() -> bool:
    return _received is not None


def received_name() -> str:
    return signal.Signals(_received).name if _received is not None else "request"


def _handler(previous: Any) -> Callable[[int, Optional[FrameType]], None]:
    def handle(signum: int, frame: Optional[FrameType]) -> None:
        global _received
        if _received is None:
            _received = signum
        # whoever handled the signal before us still does (under submitit: its SIGTERM logging)
        if callable(previous):
            previous(signum, frame)

    return handle


@contextlib.contextmanager
def stop_signals() -> Iterator[None]:
    """Turn SIGUSR1 and SIGTERM into a stop request while the block runs (main thread only)."""
    global _received
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received = None
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    for sig in STOP_SIGNALS:
        signal.signal(sig, _handler(previous[sig]))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def ignore_stop_signals(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: loader workers ignore SIGUSR1 and SIGTERM.

    The signal reaches them too (torchrun signals each worker's process group, a cgroup-wide
    Slurm signal every process), and torch's own SIGTERM handler would end them at once,
    crashing the training instead of letting it stop after the step. They end when the
    training process does (they watch it).
    """
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


class StopCheck:
    """Whether all ranks should stop now; agreed by one tiny all-reduce every ``every`` steps.

    One process checks its flag at every step (free). Several processes check every
    ``every`` steps: all ranks take the same number of steps per epoch, so they reach the
    same checks, and a per-step collective would tie the ranks' host threads together
    for nothing (DDP's gradient all-reduce runs asynchronously on the device).
    """

    def __init__(self, world_size: int, every: int) -> None:
        self.every = 1 if world_size == 1 else max(1, every)

    def after_step(self, step: int) -> bool:
        """Call after step ``step`` (0-based) of an epoch on every rank."""
        if (step + 1) % self.every:
            return False
        return self.now()

    @staticmethod
    def now() -> bool:
        """A check every rank makes at the same point (e.g. the end of an epoch)."""
        return distributed.any_rank(requested())
