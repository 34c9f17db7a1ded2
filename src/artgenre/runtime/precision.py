"""Numeric precision of the training step (``trainer.precision``): autocast and the gradient scaler.

* ``32``    plain float32 (also spelt ``fp32``).
* ``bf16``  autocast to bfloat16, on the GPU and on the CPU alike. Weights, optimizer state and
            the loss stay float32; bfloat16 has float32's range, so no gradient scaler is needed.
            Fast on GPUs from Ampere on; on CPUs without bf16 units (AVX2 only) it is far
            slower than float32 (ResNet-50 measured about 15x slower here).
* ``16``    autocast to float16 (also ``fp16``) with a gradient scaler, whose state the
            checkpoints keep. Meant for CUDA GPUs without bf16 (V100, T4); it runs on the CPU too.
* ``auto``  (the default) bf16 on a CUDA device that supports it, otherwise 32.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from typing import Callable, Optional

import torch

ALIASES = {"fp32": "32", "fp16": "16", "32": "32", "16": "16", "bf16": "bf16"}
CHOICES = ("auto", "32", "bf16", "16", "fp32", "fp16")
DTYPES = {"32": None, "bf16": torch.bfloat16, "16": torch.float16}


@dataclass(frozen=True)
class Precision:
    name: str  # 32 | bf16 | 16, after resolving auto and the aliases
    dtype: Optional[torch.dtype]  # autocast's dtype; None: no autocast
    device_type: str

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)

    @property
    def autocast_factory(self) -> Callable[[], contextlib.AbstractContextManager]:
        return functools.partial(Precision.autocast, self)

    def scaler(self) -> Optional[torch.amp.GradScaler]:
        """A gradient scaler for float16, None otherwise (float32 and bfloat16 need none)."""
        if self.name != "16":
            return None
        return torch.amp.GradScaler(self.device_type)


def resolve(setting: str, device: torch.device) -> Precision:
    """``trainer.precision`` for ``device``: ``auto`` becomes bf16 on CUDA GPUs that support it, else 32."""
    setting = str(setting)
    if setting == "auto":
        # bf16 tensor cores from Ampere (compute capability 8) on; older GPUs only emulate it, slowly
        bf16_gpu = device.type == "cuda" and torch.cuda.get_device_capability(device)[0] >= 8
        name = "bf16" if bf16_gpu else "32"
    else:
        name = ALIASES[setting]
    return Precision(name=name, dtype=DTYPES[name], device_type=device.type)
