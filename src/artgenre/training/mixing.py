"""Batch-level augmentation for small data sets: mixup, CutMix and random erasing.

Both run on the device, on the normalised batch, inside the training step (the loaders only
deliver uint8 pixels). Their random draws come from Python's and NumPy's generators (mixing
and box sizes), and torch's (the erasing noise): every epoch reseeds all three from
(seed, epoch, rank), so a resumed run draws what an uninterrupted one draws.

Why not ``timm.data.Mixup``: it refuses batches of odd size, and the epoch's last batch
(and each rank's share of it) is often odd. The mixing here follows timm's "batch" mode (one
lambda per batch, each image paired with the batch's reversal, CutMix's lambda corrected to
the box's true area) and borrows timm's box geometry (``cutmix_bbox_and_lam``). With an odd
batch the middle image is paired with itself: its image and target stay unmixed. Label
smoothing is applied to the mixed targets by ``F.cross_entropy``, as timm's ``mixup_target``
does. Random erasing is timm's own ``RandomErasing`` (per-pixel normal noise, DeiT's choice).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import Tensor


class Mixer:
    """Mixup and/or CutMix of whole batches; soft targets whose weights are the images' shares."""

    def __init__(self, mix: DictConfig, num_classes: int) -> None:
        self.mixup_alpha, self.cutmix_alpha = float(mix.mixup_alpha), float(mix.cutmix_alpha)
        self.prob, self.switch_prob = float(mix.prob), float(mix.switch_prob)
        self.num_classes = num_classes

    def draw(self) -> tuple[str, float]:
        """(kind, lambda): kind is none, mixup or cutmix; lambda is the first image's intended share."""
        if np.random.rand() >= self.prob:
            return "none", 1.0
        use_cutmix = self.cutmix_alpha > 0 and (self.mixup_alpha == 0 or np.random.rand() < self.switch_prob)
        alpha = self.cutmix_alpha if use_cutmix else self.mixup_alpha
        return ("cutmix" if use_cutmix else "mixup"), float(np.random.beta(alpha, alpha))

    def __call__(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, float]:
        """(mixed images, soft targets, lambda): target = lam * one_hot(label) + (1 - lam) * one_hot(partner)."""
        kind, lam = self.draw()
        if kind == "mixup":
            images = images * lam + images.flip(0) * (1.0 - lam)
        elif kind == "cutmix":
            from timm.data.mixup import cutmix_bbox_and_lam

            (y0, y1, x0, x1), lam = cutmix_bbox_and_lam(images.shape, lam, correct_lam=True)
            images = images.clone()
            images[:, :, y0:y1, x0:x1] = images.flip(0)[:, :, y0:y1, x0:x1]
        return images, mixed_targets(labels, lam, self.num_classes), lam


def mixed_targets(labels: Tensor, lam: float, num_classes: int) -> Tensor:
    """lam * one_hot(labels) + (1 - lam) * one_hot(labels reversed): rows sum to one."""
    one_hot = F.one_hot(labels, num_classes).float()
    return one_hot * lam + one_hot.flip(0) * (1.0 - lam)


def random_erasing(probability: float, device: torch.device) -> Optional[object]:
    """timm's RandomErasing for normalised batches on ``device`` (None when the probability is 0)."""
    if probability <= 0:
        return None
    from timm.data.random_erasing import RandomErasing

    return RandomErasing(probability=probability, mode="pixel", device=str(device))

