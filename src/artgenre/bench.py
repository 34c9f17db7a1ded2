"""Entry point: ``artgenre-bench`` / ``python -m artgenre.bench``: where a training step's time goes.

    artgenre-bench                                   # resnet50, 128 px, batch 32, 256 generated JPEGs
    artgenre-bench --model vit_scratch --model-opt embed_dim=96 --model-opt depth=2 --model-opt num_heads=3
    artgenre-bench --gpu                             # ResNet-50, ViT-B/16, iFormer-S at 384 px on one GPU
    artgenre-bench --gpu --image-size 224 --epochs 2 # the preset, with some values of your own

For one model and image size it measures, in images per second of training:

(a)  ceiling: a plain PyTorch loop (zero_grad, forward under autocast, cross-entropy, backward,
     step; no reads of the device) over batches already on the device, already normalised
     floats in the model's memory format.
(a') our loop: artgenre.training.engine.train_one_epoch over the very same batches; its overhead over
     (a) in percent. (a) and (a') take turns for --rounds rounds and the best round of each
     counts (the medians are in the JSON), so a burst of load from other processes hits both.
(b)  full epochs: generated paintings (--images JPEGs of --source-size px, written once) read
     exactly as artgenre-train reads them (Hydra config, manifest, pixel cache unless
     --no-cache, DataLoader workers, floats made on the device), --epochs epochs; the best
     epoch after the first counts. Its rate over (a), and its time split into waiting for
     data and computing. Indexing the images and building the pixel cache are one-off costs,
     reported apart.
(c)  the study's way (unless --no-study): the same JPEGs decoded whole by PIL, Resize + ToTensor
     in the workers, a fresh float32, contiguous, uncompiled model, and a ``loss.item()`` plus
     a device sync after every step. Its epochs, its step time on in-memory tensors, and how
     much faster (b) is.

Peak memory per phase: on CUDA the allocator's peak (reset between phases); on the CPU the
process's peak resident set size, which never goes down. Models get random weights: nothing
is downloaded. ``--json PATH`` writes every figure and the settings.
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any, Optional, Sequence

import torch

from artgenre import launch
from artgenre.benchmark.device import device_name, pick_device
from artgenre.benchmark.measure import measure
from artgenre.benchmark.report import table
from artgenre.benchmark.settings import GPU_BATCH, GPU_PRESET, Plan, check_counts, resolve
from artgenre.runtime import precision
from artgenre.runtime.cpu_memory import keep_freed_memory
from artgenre.runtime.device import DEVICE_CHOICES


def _key_value(text: str) -> str:
    if "=" not in text or text.startswith("="):
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return text


def parser() -> argparse.ArgumentParser:
    """Options default to SUPPRESS so that :func:`plan` knows which ones were given (they beat --gpu's)."""
    ap = argparse.ArgumentParser(prog="artgenre-bench", description=__doc__, argument_default=argparse.SUPPRESS,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gpu", action="store_true", default=False,
                    help=f"preset for one CUDA GPU: {', '.join(f'{m} (batch {b})' for m, b in GPU_BATCH.items())}, "
                         + ", ".join(f"{k.replace('_', '-')} {v}" for k, v in GPU_PRESET.items())
                         + "; flags given with it override its values")
    ap.add_argument("--model", help="registered model name (default resnet50; with --gpu: only this one)")
    ap.add_argument("--model-opt", dest="model_opt", action="append", type=_key_value, metavar="KEY=VALUE",
                    help="model option, as model.KEY=VALUE of artgenre-train (repeatable)")
    ap.add_argument("--image-size", type=int, help="data.image_size (default 128)")
    ap.add_argument("--batch-size", type=int, help="batch per step (default 32)")
    ap.add_argument("--steps", type=int, help="in-memory steps per round (default 10)")
    ap.add_argument("--rounds", type=int, help="rounds of (a) and (a') taking turns (default 3)")
    ap.add_argument("--images", type=int, help="JPEGs to generate (default 256)")
    ap.add_argument("--source-size", type=int, help="side of the generated JPEGs in px (default 1000)")
    ap.add_argument("--epochs", type=int, help="full epochs of (b) and of (c) (default 3)")
    ap.add_argument("--workers", type=int, help="DataLoader workers (default 2)")
    ap.add_argument("--precision", choices=precision.CHOICES, help="trainer.precision (default auto)")
    ap.add_argument("--channels-last", action=argparse.BooleanOptionalAction,
                    help="NHWC layout (default: on for CUDA only, as in training)")
    ap.add_argument("--compile", action=argparse.BooleanOptionalAction, help="torch.compile (default off)")
    ap.add_argument("--compile-backend", help="torch.compile backend (default inductor)")
    ap.add_argument("--device", choices=DEVICE_CHOICES, help="default auto (cuda when visible)")
    ap.add_argument("--no-study", dest="study", action="store_false", default=True, help="skip (c)")
    ap.add_argument("--no-cache", dest="cache", action="store_false", default=True,
                    help="(b) decodes the JPEGs every epoch instead of reading the pixel cache")
    ap.add_argument("--json", help="write every figure and the settings here (with --gpu: bench-gpu.json)")
    ap.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's own)")
    return ap


def plan(argv: Optional[Sequence[str]] = None) -> Plan:
    """The command line resolved: defaults, then --gpu's preset, then the flags given."""
    args = vars(parser().parse_args(argv))
    preset = args.pop("gpu")
    cache, study = args.pop("cache"), args.pop("study")
    return resolve(args, preset, cache, study)


def run(p: Plan) -> dict[str, Any]:
    """Benchmark every model of the plan; print the table; write the JSON if asked. Returns the figures."""
    check_counts(p)
    device = pick_device(p.device)
    if p.threads:
        torch.set_num_threads(p.threads)
    if device.type == "cpu":
        keep_freed_memory()  # as training does on the CPU; for the study's loop too (same process)
    generated, figures = measure(p, device)
    print("\n" + table(figures), flush=True)
    if p.json:
        env = {"torch": torch.__version__, "device": str(device), "device_name": device_name(device)}
        out = {"environment": env, "generated": generated.to_json(p.source_size), "models": figures}
        p.json.parent.mkdir(parents=True, exist_ok=True)
        p.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"figures written to {p.json}", flush=True)
    return figures


def main(argv: Optional[Sequence[str]] = None) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    p = plan(argv)
    launch.guarded(lambda: run(p))()


if __name__ == "__main__":
    main()
