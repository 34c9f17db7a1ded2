"""Building blocks shared by the project's own models and by the weights loader (models/pretrained.py)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class DropPath(nn.Module):
    """Stochastic depth: in training, drop a residual branch for a random subset of samples."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop path probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep  # rescaled so that the expected output equals the eval-mode output

    def extra_repr(self) -> str:
        return f"p={self.p}"


# ---------------------------------------------------------------- ViT position embeddings
def resize_pos_embed(
    pos_embed: Tensor, old_grid: tuple[int, int], new_grid: tuple[int, int], num_prefix_tokens: int = 1
) -> Tensor:
    """Bicubically resize the grid part of a (1, prefix + H*W, C) position embedding.

    The first ``num_prefix_tokens`` entries (the class token's) belong to no patch, so they
    are kept as they are.
    """
    prefix, grid = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    c = grid.shape[-1]
    grid = grid.reshape(1, old_grid[0], old_grid[1], c).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=new_grid, mode="bicubic", align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(1, new_grid[0] * new_grid[1], c)
    return torch.cat([prefix, grid], dim=1)


def grid_of(num_tokens: int, num_prefix_tokens: int = 1) -> tuple[int, int]:
    """The square grid of a (prefix + H*W)-token embedding: 197 -> (14, 14)."""
    side = math.isqrt(num_tokens - num_prefix_tokens)
    if side * side != num_tokens - num_prefix_tokens:
        raise ValueError(f"{num_tokens - num_prefix_tokens} patch tokens do not form a square grid")
    return side, side
