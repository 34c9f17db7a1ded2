"""Mutation testing as a habit: break one line of a core file, run the tests that should notice.

Each mutation in MUTATIONS names a file under src/artgenre, an exact piece of its text, what
replaces it, and the tests that must fail. The script copies src/ to a temporary folder,
applies one mutation there (the working tree is never touched), runs those tests with
PYTHONPATH pointing at the copy (subprocesses such as torchrun inherit it), and reports
``caught`` (the tests failed) or ``SURVIVED`` (they passed: a blind spot). A mutation whose
text is no longer in the file is reported as ``stale`` so the list is kept up to date.

    python scripts/mutants.py                 # every mutation (slow ones train: ~15-25 min on 2 cores)
    python scripts/mutants.py --fast          # only mutations whose tests start no training
    python scripts/mutants.py --only sched    # the mutations whose name contains "sched"
    python scripts/mutants.py --list
    python scripts/mutants.py --control       # the same tests on the unchanged source: all must pass

Exit status 1 when a mutation survived or is stale.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str  # under src/artgenre
    old: str
    new: str
    tests: tuple[str, ...]  # pytest node ids or files, relative to the repository
    slow: bool = False  # the tests start training processes


P = "tests/test_promises.py"
W = "tests/test_walkthrough.py"
E2E = "tests/test_train_e2e.py"
MUTATIONS = [
    # engine: exact sums across ranks
    Mutation("engine: correct counts not all-reduced", "training/engine.py",
             "loss, correct, count = all_reduce_sum(sums.cpu()).tolist()",
             "loss, correct, count = sums.cpu().tolist()",
             (f"{E2E}::test_ddp_val_accuracy_equals_single_process_evaluation",), slow=True),
    Mutation("engine: short last validation batch dropped", "training/engine.py",
             "        images = images.to(device, non_blocking=True)\n        labels = labels.to(device, non_blocking=True)\n        with autocast():",
             "        if len(labels) < getattr(loader, 'batch_size', 4):\n            continue\n"
             "        images = images.to(device, non_blocking=True)\n        labels = labels.to(device, non_blocking=True)\n        with autocast():",
             (f"{P}::test_validation_counts_every_image_with_several_short_batches_per_rank",)),
    Mutation("engine: label smoothing hard-wired to 0", "training/engine.py",
             "label_smoothing=ctx.label_smoothing", "label_smoothing=0.0",
             (f"{P}::test_label_smoothing_loss_is_its_formula",)),
    Mutation("fit: label smoothing not passed to the step", "training/fit.py",
             "label_smoothing=cfg.trainer.label_smoothing, ", "",
             (f"{P}::test_step_context_takes_the_configured_label_smoothing",)),
    Mutation("engine: accumulation divides a short last group by k x batch", "training/engine.py",
             "denominator = groups[step // k] if groups is not None else len(labels)",
             "denominator = k * len(labels) if groups is not None else len(labels)",
             ("tests/test_train_step.py::test_accumulation_equals_one_large_batch_also_for_the_short_last_group",)),
    Mutation("engine: padding repeats counted", "training/engine.py",
             "< num_real).double()", "< 10**9).double()",
             ("tests/test_train_step.py::test_padding_repeats_are_trained_on_but_not_counted",)),
    Mutation("engine: validation loss as mean of batch means", "training/engine.py",
             'sums[0] += F.cross_entropy(logits.float(), labels, reduction="sum").double()',
             'sums[0] += len(labels) * F.cross_entropy(logits.float(), labels).double() / 4',
             (f"{P}::test_validation_counts_every_image_with_several_short_batches_per_rank",)),
    # sampler: every image once
    Mutation("sampler: validation shards overlap", "data/loading/sampler.py",
             "self.indices = list(range(rank, size, world_size))",
             "self.indices = list(range(rank, size, max(1, world_size - 1)))",
             ("tests/test_sampler.py", f"{P}::test_validation_counts_every_image_with_several_short_batches_per_rank")),
    Mutation("sampler: training order the same every epoch", "data/loading/sampler.py",
             "manual_seed(self.seed + self.epoch)", "manual_seed(self.seed)",
             ("tests/test_sampler.py",)),
    Mutation("sampler: num_real counts the padding", "data/loading/sampler.py",
             "self.num_real = len(range(rank, size, world_size))", "self.num_real = -(-size // world_size)",
             ("tests/test_sampler.py",)),
    Mutation("setup: drop_last on the validation loader", "training/setup.py",
             "val=on_device(loader(val_ds, sampler=", "val=on_device(loader(val_ds, drop_last=True, sampler=",
             (f"{E2E}::test_ddp_run_writes_metrics_split_and_checkpoints",), slow=True),
    Mutation("fit: BatchNorm buffers not broadcast before validation", "training/fit.py",
             "    distributed.broadcast_buffers(t.model)  #", "    pass  #",
             (f"{E2E}::test_ddp_with_batchnorm_evaluates_rank_0s_model",), slow=True),
    # resume and checkpoints
    Mutation("resume: schedule restarted (last_epoch = -1)", "training/resume.py",
             'scheduler.last_epoch = done_epochs * (steps_per_epoch if interval == "step" else 1) - 1',
             "scheduler.last_epoch = -1",
             (f"{P}::test_a_resumed_schedule_continues_at_the_same_point_of_the_training",
              f"{P}::test_restore_places_the_cosine_schedule_for_another_process_count")),
    Mutation("resume: schedule placed in the old steps per epoch", "training/resume.py",
             "    continue_schedule(t.scheduler, done, t.steps_per_epoch, cfg.sched.interval)\n", "",
             (f"{P}::test_restore_places_the_cosine_schedule_for_another_process_count",)),
    Mutation("resume: RNG state of another rank", "training/resume.py",
             "checkpoint.set_rng_state(rngs[t.info.rank])", "checkpoint.set_rng_state(rngs[0])",
             (f"{P}::test_restore_takes_this_ranks_rng_state",)),
    Mutation("resume: image size not compared", "training/resume.py",
             '"data.image_size", ', "",
             (f"{P}::test_resume_refuses_a_changed_image_size_seed_or_model",)),
    Mutation("resume: seed not compared", "training/resume.py",
             '"trainer.seed",', "",
             (f"{P}::test_resume_refuses_a_changed_image_size_seed_or_model",)),
    Mutation("resume: resume=null replaces an earlier run", "training/resume.py",
             "        if found:  #", "        if False:  #",
             (f"{P}::test_resume_null_in_a_folder_with_a_run_refuses_and_keeps_it",)),
    Mutation("checkpoint: torch.load unpickles code", "rundir/checkpoint.py",
             "map_location=\"cpu\", weights_only=True)", "map_location=\"cpu\", weights_only=False)",
             (f"{W}::test_a_checkpoint_is_read_without_running_its_code",)),
    # schedules
    Mutation("sched: no warm-up", "training/optim.py",
             "        if t < warmup:\n            return (t + 1) / (warmup + 1)\n", "",
             (f"{P}::test_cosine_schedule_follows_its_formula",)),
    Mutation("sched: min_lr ignored", "training/optim.py",
             "return floor + (1.0 - floor) * shape(progress)", "return shape(progress)",
             (f"{P}::test_cosine_schedule_follows_its_formula",)),
    Mutation("sched: interval=epoch stepped per step", "training/optim.py",
             'per_step = cfg.interval == "step"', "per_step = True",
             (f"{P}::test_cosine_schedule_follows_its_formula",)),
    Mutation("sched: cosine over half a period", "training/optim.py",
             "math.cos(math.pi * min(1.0, progress))", "math.cos(0.5 * math.pi * min(1.0, progress))",
             (f"{P}::test_cosine_schedule_follows_its_formula",)),
    # metrics files and reports
    Mutation("metrics: CRLF line ends", "rundir/metrics.py",
             'csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\\n")\n            writer.writeheader()',
             "csv.DictWriter(f, fieldnames=COLUMNS)\n            writer.writeheader()",
             (f"{W}::test_every_csv_a_run_writes_ends_lines_with_lf",)),
    Mutation("report: every-n epochs stop at ten", "evaluation/tables.py",
             "epochs = list(range(every, last + 1, every))", "epochs = list(range(every, min(last, 10) + 1, every))",
             (f"{W}::test_report_every_n_epochs_on_a_run_longer_than_ten",)),
    # start-up
    Mutation("device: two ranks on one GPU accepted", "runtime/device.py",
             "        if procs > gpus:", "        if False:",
             (f"{W}::test_more_processes_than_gpus_is_one_clear_message",)),
    Mutation("launch: every rank prints the error", "launch.py",
             "            elif e.rank_local:", "            else:",
             (f"{W}::test_an_error_every_rank_meets_is_printed_once",)),
]


def run_one(m: Mutation, python: str, timeout: float, control: bool = False) -> tuple[str, float, str]:
    """Apply ``m`` to a copy of src/ and run its tests; ``control``: run them on the unchanged copy."""
    source = REPO / "src" / "artgenre" / m.file
    text = source.read_text()
    if text.count(m.old) != 1:
        return "stale", 0.0, f"expected text found {text.count(m.old)} times in {m.file}"
    if control:
        m = Mutation(m.name, m.file, m.old, m.old, m.tests, m.slow)
    with tempfile.TemporaryDirectory(prefix="mutant-") as tmp:
        copy = Path(tmp) / "src"
        shutil.copytree(REPO / "src", copy, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        (copy / "artgenre" / m.file).write_text(text.replace(m.old, m.new))
        env = {**os.environ, "PYTHONPATH": str(copy), "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        cmd = [python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=", *m.tests]
        tic = time.monotonic()
        try:
            done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return "caught (timeout)", time.monotonic() - tic, ""
        seconds = time.monotonic() - tic
        last = (done.stdout.strip().splitlines() or [""])[-1]
        if done.returncode == 0:
            return ("passes" if control else "SURVIVED"), seconds, last
        if done.returncode in (1,):  # tests failed
            return "caught", seconds, last
        return f"error (pytest exit {done.returncode})", seconds, last + done.stderr[-500:]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fast", action="store_true", help="skip mutations whose tests train")
    p.add_argument("--only", default="", help="run the mutations whose name contains this text")
    p.add_argument("--list", action="store_true")
    p.add_argument("--control", action="store_true",
                   help="run each mutation's tests on the unchanged source: they must pass (else 'caught' means nothing)")
    p.add_argument("--timeout", type=float, default=900)
    args = p.parse_args(argv)
    chosen = [m for m in MUTATIONS if args.only in m.name and not (args.fast and m.slow)]
    if args.list:
        for m in chosen:
            print(f"{m.name}{'  [slow]' if m.slow else ''}  ->  {' '.join(m.tests)}")
        return 0
    print("| mutation | file | result | seconds |\n|---|---|---|---|", flush=True)
    bad = 0
    for m in chosen:
        result, seconds, detail = run_one(m, sys.executable, args.timeout, args.control)
        bad += not result.startswith("passes" if args.control else "caught")
        print(f"| {m.name} | {m.file} | {result} | {seconds:.0f} |", flush=True)
        if not result.startswith(("passes", "caught")) and detail:
            print(f"|   | | {detail.strip()[:300]} | |", flush=True)
    print(f"\n{len(chosen) - bad} of {len(chosen)} {'pass unmutated' if args.control else 'caught'}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
