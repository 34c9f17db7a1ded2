"""A Vision Transformer written out in full, as a newcomer would want to read one.

An image is cut into square patches; each patch becomes a token (a vector of
``embed_dim`` numbers); a learned "class" token is put in front; a learned position
embedding tells the network where each patch came from; a stack of pre-norm
Transformer blocks mixes the tokens; the class token's final state is classified.

Parameter names and layout follow timm's ``VisionTransformer`` (``cls_token``,
``pos_embed``, ``patch_embed.proj``, ``blocks.N.attn.qkv`` ...), so a timm ViT state_dict
loads into this model strictly and gives the same logits (tests/test_vit.py proves it).

Registers ``vit_scratch`` (the ViT-B/16 shape) and ``vit_scratch_study`` (6 blocks, 6 heads and
the initialisation of the study's code); their options are ``VitOptions``. ``init`` picks how the
weights start (``INITS``): ``timm`` (truncated normal, std 0.02, as timm and DeiT) or ``study``
(class token and position embedding zero, every layer as PyTorch constructs it).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from artgenre.errors import WeightsError
from artgenre.models import pretrained as weights_io
from artgenre.models.layers import IMAGENET_MEAN, IMAGENET_STD, DropPath, resize_pos_embed
from artgenre.models.pretrained import WeightsFile, WeightsRecipe
from artgenre.models.registry import ExplainSpec, ExplainTarget, check_drop_path, check_positive, register


class PatchEmbed(nn.Module):
    """Cut the image into patches and project each one to a token: one strided convolution."""

    def __init__(self, patch_size: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, images: Tensor) -> Tensor:
        h, w = images.shape[-2:]
        if h % self.patch_size or w % self.patch_size:
            raise ValueError(f"image size {h}x{w} is not a multiple of the patch size {self.patch_size}")
        x = self.proj(images)  # (B, C, H/p, W/p)
        return x.flatten(2).transpose(1, 2)  # (B, tokens, C)


class Attention(nn.Module):
    """Multi-head self-attention: every token looks at every other token."""

    def __init__(self, dim: int, num_heads: int, attn_drop: float = 0.0, proj_drop: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embed_dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)  # queries, keys and values in one matrix product
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, tokens, head_dim)
        # softmax(q k^T / sqrt(head_dim)) v, fused where the hardware allows
        x = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.0)
        x = x.transpose(1, 2).reshape(b, n, c)
        return self.proj_drop(self.proj(x))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class Block(nn.Module):
    """Pre-norm Transformer block: x + Attention(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, drop: float, drop_path: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, proj_drop=drop)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class VisionTransformer(nn.Module):
    """ViT with a class token and a learned position embedding (Dosovitskiy et al. 2021)."""

    pretrained_cfg = {"mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    num_prefix_tokens = 1  # the class token: it has a position embedding but no place in the patch grid

    def __init__(
        self,
        image_size: int | tuple[int, int] = 224,
        patch_size: int = 16,
        num_classes: int = 1000,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        drop_path_rate: float = 0.0,
        in_chans: int = 3,
        init: str = "timm",
    ) -> None:
        super().__init__()
        if init not in INITS:
            raise ValueError(f"init {init!r} is not one of: {', '.join(INITS)}")
        h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
        if h % patch_size or w % patch_size:
            raise ValueError(f"image size {h}x{w} is not a multiple of patch_size {patch_size}")
        self.num_classes = num_classes
        self.grid_size = (h // patch_size, w // patch_size)
        num_patches = self.grid_size[0] * self.grid_size[1]

        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, embed_dim))
        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim)
        self.pos_drop = nn.Dropout(dropout)
        # stochastic depth grows linearly with depth: later blocks are skipped more often
        rates = torch.linspace(0, drop_path_rate, depth, device="cpu").tolist()  # also under torch.device("meta")
        self.blocks = nn.Sequential(*[Block(embed_dim, num_heads, mlp_ratio, dropout, r) for r in rates])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()
        INITS[init](self)

    def _init_weights(self) -> None:
        """timm's ViT initialisation: truncated normal weights (std 0.02), zero biases."""
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # the patch projection is a linear map of flattened patches: initialise it like one
        w = self.patch_embed.proj.weight
        nn.init.trunc_normal_(w.view(w.shape[0], -1), std=0.02)

    def _study_init(self) -> None:
        """The study's code: class token and position embedding zero; every layer keeps the
        initialisation PyTorch gives it on construction (Kaiming-uniform weights, uniform biases
        for Linear and Conv2d; ones and zeros for LayerNorm). The layers are constructed in the
        order the study's model constructs them, so a seed draws the same initial weights."""
        nn.init.zeros_(self.cls_token)
        nn.init.zeros_(self.pos_embed)

    def no_weight_decay(self) -> set[str]:
        return {"cls_token", "pos_embed"}

    def group_matcher(self, coarse: bool = False) -> dict:
        """timm's grouping (as its VisionTransformer): embeddings, each block, the final norm (layer decay)."""
        return {"stem": r"^cls_token|^pos_embed|^patch_embed",
                "blocks": [(r"^blocks\.(\d+)", None), (r"^norm", (99999,))]}

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        dim = self.norm.normalized_shape[0]
        self.head = nn.Linear(dim, num_classes) if num_classes > 0 else nn.Identity()

    def forward_features(self, images: Tensor) -> Tensor:
        x = self.patch_embed(images)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1)
        x = self.pos_drop(x + self._pos_embed_for(images.shape[-2:]))
        return self.norm(self.blocks(x))

    def forward_head(self, tokens: Tensor) -> Tensor:
        return self.head(tokens[:, 0])  # the class token summarises the image

    def forward(self, images: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(images))

    def _pos_embed_for(self, hw: torch.Size) -> Tensor:
        p = self.patch_embed.patch_size
        grid = (hw[0] // p, hw[1] // p)
        if grid == self.grid_size:
            return self.pos_embed
        return resize_pos_embed(self.pos_embed, self.grid_size, grid)


INITS = {"timm": VisionTransformer._init_weights, "study": VisionTransformer._study_init}


# ---------------------------------------------------------------- registry entries
@dataclass
class VitOptions:
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    patch_size: int = 16
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    drop_path: float = 0.0  # stochastic depth of the last block, rising linearly from 0 at the first
    pretrained: Optional[str] = None  # a weights file, or true: timm's ViT-B/16 weights from its cache
    # timm: truncated normal (std 0.02), zero biases | study: class token and position embedding zero,
    # every layer PyTorch's default (what the study's code did)
    init: str = "timm"


def _build_vit(o: VitOptions, num_classes: int, image_size: int) -> nn.Module:
    check_positive(o, "embed_dim", "depth", "num_heads", "patch_size")
    if o.embed_dim % o.num_heads:
        raise ValueError(f"model.embed_dim ({o.embed_dim}) must be a multiple of model.num_heads ({o.num_heads})")
    if o.mlp_ratio <= 0 or not 0.0 <= o.dropout < 1.0:
        raise ValueError(f"model.mlp_ratio must be positive and model.dropout in [0, 1), "
                         f"got {o.mlp_ratio}, {o.dropout}")
    return VisionTransformer(
        image_size=image_size, patch_size=o.patch_size, num_classes=num_classes, embed_dim=o.embed_dim,
        depth=o.depth, num_heads=o.num_heads, mlp_ratio=o.mlp_ratio, dropout=o.dropout,
        drop_path_rate=check_drop_path(o.drop_path), init=o.init,
    )


def vit_b16_arch(image_size: int) -> str:
    """timm's name of ViT-B/16 for an image size (its weights are vit_scratch's and vit_timm's)."""
    # 224 and 384 are the same network; the name selects the native position grid (and its weights)
    return "vit_base_patch16_384" if image_size >= 384 else "vit_base_patch16_224"


def _vit_scratch_library_file(o: VitOptions, image_size: int) -> WeightsFile:
    # our ViT has timm's parameter names, so timm's ViT-B/16 weights are its weights when the shapes agree
    vit_b16 = VitOptions()
    shape = ("embed_dim", "depth", "num_heads", "patch_size", "mlp_ratio")
    if any(getattr(o, k) != getattr(vit_b16, k) for k in shape):
        raise WeightsError(
            "model.pretrained=true: the library weights for vit_scratch are timm's ViT-B/16 ("
            + ", ".join(f"{k}={getattr(vit_b16, k)}" for k in shape)
            + "); this model has " + ", ".join(f"{k}={getattr(o, k)}" for k in shape)
            + ". Use those options, or pass a weights file with model.pretrained=PATH"
        )
    return weights_io.timm_cached_file(vit_b16_arch(image_size))


def tokens_to_grid(tokens: Tensor, prefix: int, grid: tuple[int, int]) -> Tensor:
    """(B, prefix + gh*gw, C) tokens -> (B, C, gh, gw): the class (and register) tokens dropped,
    the patch tokens laid back on the patch grid in the row-major order the patch embedding made them."""
    patches = tokens[:, prefix:, :]
    b, n, c = patches.shape
    if n != grid[0] * grid[1]:
        raise ValueError(f"{n} patch tokens do not fill a {grid[0]}x{grid[1]} grid")
    return patches.reshape(b, grid[0], grid[1], c).permute(0, 3, 1, 2)


def vit_explain_target(model: nn.Module) -> ExplainTarget:
    """Grad-CAM's target in a ViT (ours or timm's): the input of the last block's attention.

    Not the last block's output: the head reads the class token after it, so the patch tokens'
    outputs there have no gradient. norm1 of the last block is where the patch tokens last feed
    the class token (through attention); the reshape puts them on the patch grid.
    """
    grid = getattr(model, "grid_size", None) or model.patch_embed.grid_size
    prefix = int(getattr(model, "num_prefix_tokens", 1))
    return ExplainTarget([model.blocks[-1].norm1],
                         functools.partial(tokens_to_grid, prefix=prefix, grid=(int(grid[0]), int(grid[1]))))


VIT_EXPLAIN = ExplainSpec(
    "gradcam", vit_explain_target,
    why="Grad-CAM on the last block's patch tokens on the patch grid: needs no attention matrix, so it works "
        "with fused attention (scaled_dot_product_attention)",
)

VIT_WEIGHTS = WeightsRecipe(
    library_file=_vit_scratch_library_file, resize=weights_io.resize_vit_pos_embed, classifier="head"
)
register(
    "vit_scratch", _build_vit, VitOptions(), "ViT-B/16 shape written in this project (768 wide, 12 blocks, 12 heads)",
    weights=VIT_WEIGHTS, explain=VIT_EXPLAIN,
)
register(
    "vit_scratch_study", _build_vit, VitOptions(depth=6, num_heads=6, init="study"),
    "the ViT the study's code actually ran: 6 blocks, 6 heads, its initialisation", weights=VIT_WEIGHTS,
    explain=VIT_EXPLAIN,
)
