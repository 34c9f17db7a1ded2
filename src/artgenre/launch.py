"""What every entry point does before Hydra starts: agree on a run directory, quiet rank > 0.

Hydra names the run directory after the clock. Under torchrun each rank would read its
own clock and could land in a different folder, so rank 0's time stamp is broadcast and
the config's ``${run_stamp:}`` resolver returns it on every rank. Ranks other than 0
neither save Hydra's config files nor configure its log file; only rank 0 writes.
"""

from __future__ import annotations

import datetime
import logging
import os
import sys
from typing import Callable, Optional

from omegaconf import OmegaConf

from artgenre.runtime import distributed
from artgenre.runtime import preemption
from artgenre.errors import ArtgenreError

STAMP_ENV = "ARTGENRE_RUN_STAMP"


def run_stamp() -> str:
    """The run's time stamp: $ARTGENRE_RUN_STAMP when set (by rank 0 or by a job script), else now."""
    if not os.environ.get(STAMP_ENV):
        os.environ[STAMP_ENV] = datetime.datetime.now().strftime("%Y-%m-%d/%H-%M-%S")
    return os.environ[STAMP_ENV]


if not OmegaConf.has_resolver("run_stamp"):
    OmegaConf.register_new_resolver("run_stamp", run_stamp)


def prepare() -> distributed.DistInfo:
    info = distributed.init()
    if info.distributed:
        os.environ[STAMP_ENV] = str(distributed.broadcast_object(run_stamp()))
        if not info.is_main:
            sys.argv += ["hydra.output_subdir=null", "hydra/job_logging=none", "hydra/hydra_logging=none"]
    return info


def user_message(e: BaseException) -> str:
    """The last line of an error raised inside a DataLoader worker, or the message itself."""
    text = str(e)
    if "Original Traceback" in text:  # DataLoader re-raises worker errors with the traceback as text
        text = text.strip().splitlines()[-1].split(": ", 1)[-1]
    return text


USER_ERROR = 2  # exit status of every failure the user can fix (artgenre's messages and Hydra's config errors)
_task_started = False


def hydra_exit_codes(hydra_app: Callable[[], object]) -> None:
    """Run a ``@hydra.main`` app with one exit-status convention: 2 for an error the user can fix,
    1 for a bug (a traceback), 75 for a stop on request. Hydra itself exits 1 on a config it cannot
    compose (an unknown group option, an override it cannot parse) before the task runs: that is
    the user's error, so it becomes 2."""
    global _task_started
    _task_started = False  # set by guarded() once Hydra has composed the config and runs the task
    try:
        hydra_app()
    except SystemExit as e:
        if e.code == 1 and not _task_started:
            sys.exit(USER_ERROR)
        raise


def to_log_files(message: str) -> None:
    """Append ``message`` to the log files (the run's train.log), not the console, which has it already."""
    record = logging.LogRecord("artgenre", logging.ERROR, __file__, 0, message, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def guarded(fn: Callable[[], object]) -> Callable[[], object]:
    """Run ``fn``; an ArtgenreError ends the process with its message alone (rank 0 prints).

    A stop on SIGUSR1/SIGTERM ends it with preemption.EXIT_CODE, which job scripts tell
    apart from a failure.
    """

    def wrapper() -> object:
        global _task_started
        _task_started = True
        try:
            return fn()
        except preemption.StopRequested as e:
            if distributed.env_info().is_main:
                print(f"artgenre: {e}", file=sys.stderr, flush=True)
            sys.exit(preemption.EXIT_CODE)
        except ArtgenreError as e:
            info = distributed.env_info()
            # most errors are the same on every rank: rank 0 says it once. An unreadable file of
            # one rank's shard (rank_local) may hit that rank only, and then only that rank can say it
            if info.is_main:
                print(f"error: {user_message(e)}", file=sys.stderr, flush=True)
                to_log_files(f"error: {user_message(e)}")  # a run that fails at start says why in train.log
            elif e.rank_local:
                print(f"error (rank {info.rank}): {user_message(e)}", file=sys.stderr, flush=True)
            sys.exit(USER_ERROR)

    return wrapper


def key_value_command(argv: Optional[list[str]], usage: str, body: Callable[[list[str]], object],
                      level: int = logging.INFO) -> object:
    """The main() of a ``key=value`` command line (eval, explain, export): ``-h`` prints ``usage``;
    otherwise ``body(argv)`` runs guarded (one message per user error), and the process group, if
    torchrun started one, is shut down whatever happens. Returns what ``body`` returned."""
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(usage)
        return None
    logging.basicConfig(level=level, format="%(message)s")
    try:
        return guarded(lambda: body(argv))()
    finally:
        distributed.shutdown()
