"""The one-line model summary the training prints before its first epoch.

Architecture, parameter count, input size, compute per image and where the weights came
from: what a reader of a run's log needs to tell two runs apart and to compare them with
the study's models.
"""

from __future__ import annotations

import itertools
from typing import Optional

import torch
from torch import nn

from artgenre.models.pretrained import RANDOM_INIT


def count_flops(model: nn.Module, image_size: int, in_chans: int = 3) -> Optional[float]:
    """FLOPs of one forward pass on one image (a multiply-add counts as 2), or None if not countable.

    The model runs on the "meta" device: tensors there have shapes but no data, so nothing
    is computed, no memory is used, and the real weights stay where they are (on the GPU,
    say). Counted are matrix products, convolutions and attention, which is what published
    FLOP figures count too; their "FLOPs" are usually multiply-adds, half this number.
    """
    from torch.func import functional_call
    from torch.utils.flop_counter import FlopCounterMode

    tensors = dict(itertools.chain(model.named_parameters(), model.named_buffers()))
    on_meta = {name: torch.empty_like(t, device="meta") for name, t in tensors.items()}
    image = torch.empty(1, in_chans, image_size, image_size, device="meta")
    modes = {m: m.training for m in model.modules()}
    model.eval()  # in training mode batch norm would also update its running statistics
    counter = FlopCounterMode(display=False)
    try:
        with torch.no_grad(), counter:
            functional_call(model, on_meta, (image,))
        return float(counter.get_total_flops())
    except Exception:  # a forward pass that needs real values (data-dependent shapes) cannot run on meta
        return None
    finally:
        for m, training in modes.items():
            m.training = training


def weights_origin(model: nn.Module) -> str:
    """Where the weights came from: "random init", a file, or a library cache (set by build_model)."""
    return getattr(model, "weights_origin", RANDOM_INIT)


def model_summary(model: nn.Module, name: str, image_size: int) -> str:
    """E.g. "model vit_scratch (VisionTransformer): 85.81 M parameters, input 384x384 px,
    111.0 GFLOPs (55.5 GMACs) per image, weights: random init"."""
    n_params = sum(p.numel() for p in model.parameters())
    flops = count_flops(model, image_size)
    compute = "GFLOPs n/a" if flops is None else f"{_giga(flops)} GFLOPs ({_giga(flops / 2)} GMACs) per image"
    return (
        f"model {name} ({type(model).__name__}): {n_params / 1e6:.2f} M parameters, "
        f"input {image_size}x{image_size} px, {compute}, weights: {weights_origin(model)}"
    )


def _giga(n: float) -> str:
    return f"{n / 1e9:.1f}" if n >= 1e8 else f"{n / 1e9:.3g}"  # small test models would read 0.0
