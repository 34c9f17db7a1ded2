"""Run under torchrun with 2 processes (gloo, CPU) by test_ddp_step.py; rank 0 prints one JSON line.

Each check trains a copy of one model through the training's own DDP wrapping
(trainer.place_model + trainer.wrap_for_training) on this rank's shard, and the same model
in one process, without DDP, on the union of both ranks' batches; the parameters must agree.
"""

from __future__ import annotations

import contextlib
import json
import sys

import torch
from omegaconf import OmegaConf
from torch import nn

from artgenre.runtime import distributed
from artgenre.training.engine import StepContext, train_one_epoch
from artgenre.training.setup import place_model, wrap_for_training

CPU = torch.device("cpu")


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, 4))


def config(accum_steps: int, compile: bool):
    return OmegaConf.create({"model": {"name": "tiny"}, "trainer": {
        "accum_steps": accum_steps, "sync_bn": False, "compile": compile, "compile_mode": None,
        "compile_backend": "aot_eager", "channels_last": False}})


def check(accum_steps: int, info: distributed.DistInfo, compile: bool = False) -> float:
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(32, 3, 8, 8, generator=g), torch.randint(0, 4, (32,), generator=g)
    batch = 4
    shard_x, shard_y = x[info.rank :: info.world_size], y[info.rank :: info.world_size]
    mine = [(shard_x[i : i + batch], shard_y[i : i + batch]) for i in range(0, len(shard_y), batch)]

    cfg = config(accum_steps, compile)
    net = place_model(model(), cfg, info, CPU)
    train_model, no_sync = wrap_for_training(net, cfg, info, CPU)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    params = list(net.parameters())
    context = StepContext(device=CPU, autocast=contextlib.nullcontext, scaler=None,
                          accum_steps=accum_steps, no_sync=no_sync, params=params)
    for _ in range(2):
        train_one_epoch(train_model, mine, opt, context, num_real=len(shard_y))
    if compile and train_model.fell_back:
        raise RuntimeError("torch.compile fell back to eager: the compiled path was not checked")

    # one process: a group is every rank's micro-batches of that group, in one batch
    ref = model()
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    shards = [(x[r :: info.world_size], y[r :: info.world_size]) for r in range(info.world_size)]
    per_group = batch * accum_steps
    groups = []
    for start in range(0, len(shard_y), per_group):
        groups.append((torch.cat([sx[start : start + per_group] for sx, _ in shards]),
                       torch.cat([sy[start : start + per_group] for _, sy in shards])))
    plain = StepContext(device=CPU, autocast=contextlib.nullcontext, scaler=None)
    for _ in range(2):
        train_one_epoch(ref, groups, ref_opt, plain, num_real=32)
    return max((p - q).abs().max().item() for p, q in zip(net.parameters(), ref.parameters()))


def main() -> int:
    info = distributed.init()
    torch.set_num_threads(1)
    results = {
        "accum1": check(1, info),  # static graph
        "accum2": check(2, info),  # no_sync for the first of 2
        "accum3_short_last_group": check(3, info),  # groups of 3 and 1 micro-batches
        "accum1_compiled": check(1, info, compile=True),  # torch.compile around DDP
        "accum2_compiled": check(2, info, compile=True),
    }
    if info.is_main:
        print(json.dumps(results))
    distributed.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
