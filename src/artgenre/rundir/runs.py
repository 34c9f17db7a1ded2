"""Reading finished (or running) run directories back: metrics.csv, config, checkpoint facts."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from artgenre.errors import DataError
from artgenre.rundir import checkpoint
from artgenre.rundir.metrics import COLUMNS, EMA_COLUMNS, MIX_COLUMNS, TEXT_COLUMNS

KNOWN_COLUMNS = {*COLUMNS, *EMA_COLUMNS, *MIX_COLUMNS}  # every column artgenre-train may write
NUMBER_COLUMNS = KNOWN_COLUMNS - TEXT_COLUMNS
from artgenre.rundir.split import class_count


@dataclass
class Run:
    path: Path
    rows: list[dict[str, float]]  # metrics.csv, one dict per epoch, numbers only
    config: Optional[dict[str, Any]] = None
    num_classes: Optional[int] = None
    label: str = ""
    parameters: Optional[int] = None  # filled in by the report (evaluation.tables.count_parameters)
    confusion: Optional[Path] = None  # an artgenre-eval confusion.csv
    problems: list[str] = field(default_factory=list)  # metrics.csv rows and columns left out, and why

    @property
    def model(self) -> str:
        model = (self.config or {}).get("model") or {}
        name = model.get("name", "?")
        return f"timm:{model['arch']}" if name == "timm" and model.get("arch") else name

    def column(self, key: str) -> dict[int, float]:
        return {int(r["epoch"]): r[key] for r in self.rows if key in r and not math.isnan(r[key])}


def find_runs(dirs: Sequence[str | Path]) -> list[Path]:
    """Run folders: each given folder that holds metrics.csv, else every such folder below it."""
    found: list[Path] = []
    for d in dirs:
        d = Path(d).expanduser()
        if not d.is_dir():
            raise DataError(f"{d} is not a folder; pass run folders or sweep folders (that hold run folders)")
        runs = [d] if (d / "metrics.csv").is_file() else sorted(p.parent for p in d.rglob("metrics.csv"))
        if not runs:
            raise DataError(f"no run below {d}: no metrics.csv found (is this a training output folder?)")
        found += [r for r in runs if r.resolve() not in {f.resolve() for f in found}]
    return found


MAX_EPOCH = 100_000  # larger epoch numbers are not a training's (a 1e7 would make a 50 MB report)
MAX_MAGNITUDE = 1e15  # no metric comes near; 1e308 would overflow sums and plots


def read_metrics(path: Path) -> list[dict[str, float]]:
    """metrics.csv as numbers (rows it cannot use left out: see :func:`read_metrics_checked`)."""
    return read_metrics_checked(path)[0]


def read_metrics_checked(path: Path) -> tuple[list[dict[str, float]], list[str]]:
    """metrics.csv as numbers, and why each row left out was left out (line numbers of the file).

    A row a still-running training is writing (cut short), a value that is not a number or out of
    range, an epoch that is not a whole number from 1 to MAX_EPOCH: left out and named, never silently.
    """
    rows: list[dict[str, float]] = []
    problems: list[str] = []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        if "epoch" not in header:
            return [], [f"{path}: no 'epoch' column in the header ({', '.join(header)[:200] or 'empty file'}); "
                        f"every row left out"]
        unknown = [h for h in header if h not in KNOWN_COLUMNS]
        if unknown:
            problems.append(f"{path}: column(s) not written by artgenre-train ignored: {', '.join(unknown)[:200]}")
        for raw in reader:
            line = reader.line_num
            why = _row_problem(raw)
            if why:
                problems.append(f"{path}, line {line}: {why}")
                continue
            row = {k: float(v) if v != "" else math.nan for k, v in raw.items() if k in NUMBER_COLUMNS}
            row["epoch"] = int(row["epoch"])
            rows.append(row)
    by_epoch = {r["epoch"]: r for r in rows}  # a resumed run may repeat an epoch: the later row counts
    return [by_epoch[e] for e in sorted(by_epoch)], problems


def _row_problem(raw: dict[Any, Any]) -> Optional[str]:
    if None in raw.values() or None in raw:
        return "fewer or more fields than the header (a row cut short, perhaps still being written)"
    for key, text in raw.items():
        if key not in NUMBER_COLUMNS or text == "":
            continue
        try:
            value = float(text)
        except ValueError:
            return f"{key} = {text[:40]!r} is not a number"
        if math.isinf(value) or abs(value) > MAX_MAGNITUDE:
            return f"{key} = {text[:40]} is out of range"
    try:
        epoch = float(raw["epoch"])
    except ValueError:
        return f"epoch = {raw['epoch'][:40]!r} is not a number"
    if not (1 <= epoch <= MAX_EPOCH and epoch == int(epoch)):
        return f"epoch = {raw['epoch'][:40]} is not a whole number from 1 to {MAX_EPOCH}"
    return None


def _load_checkpoint(run_dir: Path) -> Optional[dict[str, Any]]:
    import torch

    for name in ("best.pt", "last.pt"):
        path = run_dir / "checkpoints" / name
        if path.is_file():
            try:  # mmap: only the parts read (config, class names) come off the disk
                return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except Exception:  # a checkpoint being replaced or damaged: the run is still reported
                continue
    return None


def read_run(run_dir: Path) -> Run:
    from omegaconf import OmegaConf

    rows, problems = read_metrics_checked(run_dir / "metrics.csv")
    run = Run(path=run_dir, rows=rows, problems=problems)
    state = _load_checkpoint(run_dir)
    hydra_config = run_dir / ".hydra" / "config.yaml"
    if hydra_config.is_file():
        run.config = OmegaConf.to_container(OmegaConf.load(hydra_config), resolve=False)
    elif state is not None:
        run.config = state.get("config")
    if isinstance(run.config, dict):
        checkpoint.upgrade_config(run.config)  # options renamed since the run, e.g. model.drop_path_rate
    if state is not None and state.get("classes"):
        run.num_classes = len(state["classes"])
    else:
        run.num_classes = class_count(run_dir / "split.csv")
    run.confusion = _eval_confusion(run_dir)
    return run


def _eval_confusion(run_dir: Path) -> Optional[Path]:
    """The run's artgenre-eval confusion matrix: of the val split if there is one, else any."""
    found = sorted(run_dir.glob("eval_*/confusion.csv"))
    preferred = [p for p in found if p.parent.name == "eval_val"]
    return (preferred or found or [None])[0]
