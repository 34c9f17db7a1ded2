"""An exponential moving average of the weights (``trainer.ema``), by timm's ``ModelEmaV3``.

After every optimizer step u = 1, 2, ...: ema = d_u * ema + (1 - d_u) * weights (parameters and
floating-point buffers; integer buffers are copied), where d_1 = 0 (the first update copies the
weights) and, for u > 1, d_u = decay, or with ``warmup`` min(decay, 1 - (1 + (u - 1) / gamma) ** -power)
so that early averages do not lean on the random initialisation (gamma = power = 1 is the plain
running mean). The update count travels in the checkpoint, so a resumed run continues the same
sequence. Every rank averages its own copy of the same (DDP-synchronised) weights; BatchNorm
statistics are taken from rank 0 before each evaluation, as for the raw weights.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from omegaconf import DictConfig
from torch import nn


class WeightAverage:
    def __init__(self, model: nn.Module, ema: DictConfig) -> None:
        from timm.utils import ModelEmaV3

        self.average = ModelEmaV3(model, decay=float(ema.decay), use_warmup=bool(ema.warmup),
                                  warmup_gamma=float(ema.warmup_gamma), warmup_power=float(ema.warmup_power))
        self.source = model
        self.updates = 0

    @property
    def module(self) -> nn.Module:
        return self.average.module

    def decay(self, update: int) -> float:
        """d_u of the docstring for the u-th update (1-based)."""
        return self.average.get_decay(update)

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        self.average.update(self.source, step=self.updates)

    def state_dict(self) -> dict[str, Any]:
        return {"ema": self.module.state_dict(), "ema_updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> bool:
        """Restore from a checkpoint; False when it holds no average (it starts from the current weights)."""
        saved: Optional[dict] = state.get("ema")
        if saved is None:
            self.average.set(self.source)
            return False
        self.module.load_state_dict(saved)
        self.updates = int(state.get("ema_updates", 0))
        return True
