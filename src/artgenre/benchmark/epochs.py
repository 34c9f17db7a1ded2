"""(b) full epochs: the generated paintings read exactly as artgenre-train reads them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from artgenre.benchmark.settings import RunSettings
from artgenre.benchmark.timing import Clock, Pass, steady
from artgenre.benchmark.training_setup import Training
from artgenre.training.engine import train_one_epoch


@dataclass
class FullEpochs:
    """(b): epochs through the real data path."""

    epochs: list[Pass]
    cache: bool
    index_seconds: float
    cache_seconds: Optional[float]  # None without the cache
    cache_built: bool

    def to_json(self, ceiling: Pass) -> dict[str, Any]:
        i, top = steady(self.epochs)
        return {"cache": self.cache, "index_seconds": self.index_seconds, "cache_seconds": self.cache_seconds,
                "cache_built": self.cache_built, "epochs": [e.to_json() for e in self.epochs], "steady_epoch": i + 1,
                "images_per_s": top.rate, "epoch_seconds": top.seconds, "ratio_to_ceiling": top.rate / ceiling.rate,
                "data_wait_seconds": top.data_seconds, "compute_seconds": top.compute_seconds,
                "data_wait_share": top.data_share, "compute_share": 1.0 - top.data_share}


def full_epochs(t: Training, run: RunSettings, clock: Clock) -> FullEpochs:
    epochs = []
    for e in range(run.epochs):
        t.data.train_sampler.set_epoch(e)
        r = train_one_epoch(t.train_model, t.data.train, t.optimizer, t.ctx, t.data.train_sampler.num_real)
        epochs.append(Pass(r["n"], len(t.data.train), r["seconds"], r["data_seconds"]))
        clock.say(f"{run.model}: epoch {e + 1}/{run.epochs}: {epochs[-1].rate:.1f} img/s, {r['seconds']:.1f} s "
                  f"(data wait {r['data_seconds']:.1f} s)")
    return FullEpochs(epochs, run.cache, t.index_seconds, t.loaders_seconds if run.cache else None, t.cache_built)
