"""The small-data recipe study: does DeiT's recipe lift a scratch ViT on ~2,000-image-like data?

Trains the scratch ViT on the synthetic painting set (generated locally, no download) plain,
with each ingredient of the recipe alone, with the whole recipe (experiment=small_data) and
distilled from a ResNet-50 teacher trained first on the same split (experiment=distill), at
several seeds (trainer.seed draws the split as well as the initialisation and the random draws,
so each seed is another split, the same for every variant and its teacher), and prints one markdown table: per variant the validation accuracy of the
weights each run selects (the averaged ones where trainer.ema is on) at the last epoch, and
the best epoch's (which is chosen on the same validation images, so biased upwards), as
mean ± standard deviation over the seeds. Everything else is equal across variants (model,
optimizer, schedule, epochs, batch). The synthetic images themselves are the same for all
(data.synthetic_seed).

    python scripts/recipe_study.py                         # the full study (see docs/recipes.md)
    python scripts/recipe_study.py --epochs 6 --seeds 0 1 --scale 0.1  # a quicker, smaller one
Runs already finished are reused (the study can be stopped and restarted); the results
are written to OUT/results.csv and OUT/table.md.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

VARIANTS: dict[str, list[str]] = {
    "plain": [],
    "+ DeiT augmentation (data.augment=deit)": ["data.augment=deit"],
    "+ random erasing 0.25": ["data.random_erasing=0.25"],
    "+ mixup 0.8 / CutMix 1.0": ["trainer.mix.mixup_alpha=0.8", "trainer.mix.cutmix_alpha=1.0"],
    "+ weight average (EMA)": ["trainer.ema.enabled=true", "trainer.ema.decay=0.999"],
    "+ stochastic depth 0.1, label smoothing 0.1": ["model.drop_path=0.1", "trainer.label_smoothing=0.1"],
    "whole recipe (experiment=small_data)": ["experiment=small_data", "trainer.early_stopping.patience=0"],
    "whole recipe + ResNet-50 teacher (experiment=distill)": ["experiment=distill",
                                                              "trainer.early_stopping.patience=0"],
}


def common(args: argparse.Namespace) -> list[str]:
    """What every run shares (overrides that follow a preset take precedence over it)."""
    return [
        "data=synthetic", f"data.root={args.out / 'data'}", f"data.synthetic_scale={args.scale}",
        f"data.image_size={args.image_size}", "trainer.num_workers=0", "trainer.progress=false",
        f"trainer.epochs={args.epochs}", f"trainer.batch_size={args.batch_size}", "trainer.device=cpu",
        "sched=cosine", "sched.warmup_epochs=2", f"optim.lr={args.lr}", "optim.weight_decay=0.05",
    ]


def vit(args: argparse.Namespace) -> list[str]:
    return ["model=vit_scratch", f"model.embed_dim={args.width}", f"model.depth={args.depth}",
            f"model.num_heads={args.width // 32}", f"model.patch_size={args.patch_size}"]


def train(overrides: list[str], run_dir: Path, threads: int) -> None:
    if (run_dir / "done").is_file():
        return
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "artgenre.train", *overrides, f"hydra.run.dir={run_dir}"]
    tic = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{result.stderr[-3000:]}")
    (run_dir / "done").write_text(f"{time.perf_counter() - tic:.1f} s\n")
    print(f"  {run_dir.name}: {time.perf_counter() - tic:.0f} s", flush=True)


def outcome(run_dir: Path) -> dict[str, float]:
    with (run_dir / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    key = "val_acc_ema" if rows[-1].get("val_acc_ema") else "val_acc"
    return {"final": float(rows[-1][key]), "best": max(float(r[key]) for r in rows), "weights": key}


def mean_std(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else float("nan")
    return f"{statistics.mean(values):.1f} ± {sd:.1f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("recipe_study"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--scale", type=float, default=0.15, help="synthetic set size: 0.15 ~ 290 images")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--patch-size", type=int, default=4)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2)))
    p.add_argument("--variants", nargs="+", default=None, help="a subset of the variants, by position (0-based)")
    args = p.parse_args()
    args.out = args.out.resolve()
    base = common(args)
    teachers = args.out / "teacher"
    chosen = list(VARIANTS.items())
    if args.variants is not None:
        chosen = [chosen[int(i)] for i in args.variants]
    results = []
    for index, (name, overrides) in enumerate(chosen):
        print(name, flush=True)
        for seed in args.seeds:
            extra = []
            if "distill" in str(overrides):  # a teacher per seed: it must not have trained on this split's val images
                train([*base, "model=resnet50", f"trainer.seed={seed}"], teachers / f"seed{seed}", args.threads)
                extra = [f"trainer.distill.teacher={teachers / f'seed{seed}' / 'checkpoints' / 'last.pt'}"]
            run_dir = args.out / "runs" / f"v{index}" / f"seed{seed}"
            train([*overrides, *base, *vit(args), f"trainer.seed={seed}", *extra], run_dir, args.threads)
            results.append({"variant": name, "seed": seed, **outcome(run_dir)})
    write(args, results)


def write(args: argparse.Namespace, results: list[dict]) -> None:
    with (args.out / "results.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(results[0]))
        writer.writeheader()
        writer.writerows(results)
    teachers = sorted((args.out / "teacher").glob("seed*/metrics.csv"))
    lines = [f"| variant | seeds | val acc, last epoch (%) | val acc, best epoch (%) |", "|---|---|---|---|"]
    for name in dict.fromkeys(r["variant"] for r in results):
        rows = [r for r in results if r["variant"] == name]
        ema = " (EMA weights)" if rows[0]["weights"] == "val_acc_ema" else ""
        lines.append(f"| {name}{ema} | {len(rows)} | {mean_std([r['final'] for r in rows])} | "
                     f"{mean_std([r['best'] for r in rows])} |")
    if teachers:
        scores = [outcome(t.parent) for t in teachers]
        lines.append(f"| (the teachers: ResNet-50, same recipe as plain) | {len(scores)} | "
                     f"{mean_std([s['final'] for s in scores])} | {mean_std([s['best'] for s in scores])} |")
    table = "\n".join(lines)
    (args.out / "table.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
