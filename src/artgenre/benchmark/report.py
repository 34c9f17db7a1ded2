"""The report: a plan in one line, and the table of figures, one column per model."""

from __future__ import annotations

from typing import Any, Callable

import torch

from artgenre.benchmark.device import device_name
from artgenre.benchmark.settings import Plan
from artgenre.runtime.device import use_channels_last


def _split(seconds: float, share: float) -> str:
    return f"{seconds:.2f} ({100 * share:.0f}%)"


def _study(fn: Callable[[dict[str, Any]], str]) -> Callable[[dict[str, Any]], str]:
    return lambda fig: fn(fig["study"]) if fig["study"] else "-"


ROWS: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
    ("(a)  ceiling, img/s", lambda f: f"{f['ceiling']['images_per_s']:.1f}"),
    ("     step, ms", lambda f: f"{f['ceiling']['step_ms']:.1f}"),
    ("(a') our loop, img/s", lambda f: f"{f['our_loop']['images_per_s']:.1f}"),
    ("     step, ms", lambda f: f"{f['our_loop']['step_ms']:.1f}"),
    ("     overhead vs (a)", lambda f: f"{f['our_loop']['overhead_pct']:+.1f}%"),
    ("(b)  full epochs, img/s", lambda f: f"{f['full_epochs']['images_per_s']:.1f}"),
    ("     input", lambda f: "pixel cache" if f["full_epochs"]["cache"] else "JPEG decode"),
    ("     epoch, s", lambda f: f"{f['full_epochs']['epoch_seconds']:.2f}"),
    ("     (b)/(a)", lambda f: f"{f['full_epochs']['ratio_to_ceiling']:.2f}"),
    ("     data wait, s (%)", lambda f: _split(f["full_epochs"]["data_wait_seconds"],
                                            f["full_epochs"]["data_wait_share"])),
    ("     compute, s (%)", lambda f: _split(f["full_epochs"]["compute_seconds"], f["full_epochs"]["compute_share"])),
    ("     one-off: index, s", lambda f: f"{f['full_epochs']['index_seconds']:.1f}"),
    ("     one-off: cache, s", lambda f: "-" if f["full_epochs"]["cache_seconds"] is None else
     f"{f['full_epochs']['cache_seconds']:.1f}" + ("" if f["full_epochs"]["cache_built"] else " (reused)")),
    ("(c)  study's way, img/s", _study(lambda s: f"{s['images_per_s']:.1f}")),
    ("     epoch, s", _study(lambda s: f"{s['epoch_seconds']:.2f}")),
    ("     step, ms", _study(lambda s: f"{s['step_ms']:.1f}")),
    ("     data wait, s", _study(lambda s: f"{s['data_wait_seconds']:.2f}")),
    ("step, in-memory: study / ours, ms", _study(lambda s: f"{s['compute_step_ms']:.1f} / {s['ours_step_ms']:.1f}")),
    ("epoch speed-up of (b) over (c)", _study(lambda s: f"{s['speedup']:.2f}x")),
    ("peak memory (a)/(b), MiB", lambda f: f"{f['peak_memory']['in_memory']:.0f} / "
                                          f"{f['peak_memory']['full_epochs']:.0f}"),
    ("peak memory (c), MiB", lambda f: f"{f['peak_memory']['study']:.0f}" if "study" in f["peak_memory"] else "-"),
]


PRECISION_LABELS = {"32": "fp32", "bf16": "bf16", "16": "fp16"}


def table(figures: dict[str, dict[str, Any]]) -> str:
    """Rows of figures, one column per model."""
    heads = [f"{name} {f['settings']['image_size']}px b{f['settings']['batch_size']} "
             f"{PRECISION_LABELS[f['settings']['precision']]}" for name, f in figures.items()]
    cells = [[fn(f) for f in figures.values()] for _, fn in ROWS]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(heads)]
    label = max(len(name) for name, _ in ROWS)
    lines = [" " * label + "".join(f"  {h:>{w}}" for h, w in zip(heads, widths))]
    for (name, _), row in zip(ROWS, cells):
        lines.append(f"{name:<{label}}" + "".join(f"  {c:>{w}}" for c, w in zip(row, widths)))
    kind = next(iter(figures.values()))["peak_memory"]["kind"]
    lines.append(f"peak memory: {kind}")
    return "\n".join(lines)


def describe(p: Plan, device: torch.device) -> str:
    r = p.runs[0]
    models = ", ".join(f"{run.model} (batch {run.batch_size})" for run in p.runs)
    opts = f" with {' '.join(r.model_opts)}" if r.model_opts else ""
    compiled = f"compiled ({r.compile_backend})" if r.compile else "eager"
    layout = "channels_last" if use_channels_last(r.channels_last, device) else "contiguous"
    return (f"{'GPU preset: ' if p.preset else ''}{models}{opts} | {r.image_size} px, precision {r.precision}, "
            f"{layout}, {compiled} | {p.images} JPEGs of "
            f"{p.source_size} px, {r.epochs} epochs, {r.workers} workers, {'cache' if r.cache else 'no cache'}"
            f"{'' if r.study else ', no study'} | {r.rounds} rounds of {r.steps} steps | "
            f"{device}: {device_name(device)}")
