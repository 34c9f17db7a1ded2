"""Inception Transformer (iFormer; Si et al. 2022, "Inception Transformer", arXiv 2205.12956).

Written for this project from the facts in shared/reference/IFORMER.md; no code is taken
from the published implementation or from timm. Parameter names, their order and their
shapes are those of the published state_dict, so its ImageNet checkpoints load with
``load_state_dict(..., strict=True)`` (tests/test_iformer.py checks every key and the
published test vectors).

A four-stage hierarchy (strides 4, 8, 16, 32). Every block splits its channels: the first
``C_h`` go to a convolution / max-pool "high-frequency" mixer, the last ``C_l = 32 * a_i``
to a self-attention "low-frequency" mixer; ``a_i`` grows with depth (the frequency ramp),
so early blocks are mostly convolutional and late ones mostly attention.

Not to be confused with timm's own ``iformer_t/s/m/l/h/l2`` (Zheng 2025, a different
network). Ours are ``iformer_small``, ``iformer_base`` and ``iformer_large``, registered here
as ``model=iformer_*``; models/iformer_timm.py enters them in timm's registry as well (for
``model=timm model.arch=iformer_small`` and ``timm.create_model``).

Drop path default (``drop_path_rate=None`` in the builders): the published rate of the
variant, 0.2 / 0.4 / 0.5 (small / base / large) when the model is built for images of at
most 224 px, 0.3 / 0.5 / 0.6 (the 384 px fine-tuning rates) when the larger side of the
image size is above 224.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from artgenre.errors import WeightsError
from artgenre.models.layers import IMAGENET_MEAN, IMAGENET_STD, DropPath
from artgenre.models.pretrained import WeightsFile, WeightsRecipe
from artgenre.models.registry import ExplainSpec, ExplainTarget, check_drop_path, register

__all__ = [
    "InceptionTransformer",
    "VARIANTS",
    "iformer_small",
    "iformer_base",
    "iformer_large",
    "resize_pos_embed",
    "resize_pos_embeds",
]


HEAD_DIM = 32  # every attention head in every variant is 32 wide
SIZE_MULTIPLE = 16  # see _as_hw
POOL_SIZES = (2, 2, 1, 1)  # low mixer's average pool per stage: attention is cheap enough at stride 16+
LAYER_SCALE_STAGES = (False, False, True, True)  # the published model has gammas only in the deep stages

ImageSize = Union[int, Sequence[int]]


def _as_hw(image_size: ImageSize) -> tuple[int, int]:
    """(H, W) from an int or a pair, refusing sizes the network cannot take.

    Stage 1 and 2 feature maps (H/4, H/8) are average-pooled by 2 and upsampled by 2 again
    inside the low mixer; that round trip only restores the map when they are even.
    """
    if isinstance(image_size, bool):
        raise TypeError(f"image size must be an int or (H, W), got {image_size!r}")
    if isinstance(image_size, int):
        hw = (image_size, image_size)
    else:
        hw = tuple(int(s) for s in image_size)
        if len(hw) != 2:
            raise ValueError(f"image size must be an int or (H, W), got {image_size!r}")
    if any(s <= 0 or s % SIZE_MULTIPLE for s in hw):
        raise ValueError(
            f"iFormer needs image height and width that are positive multiples of {SIZE_MULTIPLE} "
            f"(e.g. 192, 208, 224, 240, 256, 384); got {hw[0]}x{hw[1]}"
        )
    return hw  # type: ignore[return-value]


def _conv_out(size: int) -> int:
    """Output length of a 3x3, stride 2, padding 1 convolution: it rounds up (15 -> 8)."""
    return (size + 1) // 2


def _stage_sizes(hw: tuple[int, int]) -> list[tuple[int, int]]:
    """Feature-map size of each of the four stages for an input of size hw."""
    h, w = _conv_out(_conv_out(hw[0])), _conv_out(_conv_out(hw[1]))  # the stem: two stride-2 convs
    sizes = [(h, w)]
    for _ in range(3):
        h, w = _conv_out(h), _conv_out(w)
        sizes.append((h, w))
    return sizes


def resize_pos_embed(pe: Tensor, new_hw: tuple[int, int]) -> Tensor:
    """Resize a (1, H, W, C) positional embedding to (1, *new_hw, C).

    Bilinear with align_corners=False, as the published model does at run time, so a
    checkpoint adapted with this function gives the same logits as the 224 px model run
    on the larger input.
    """
    if pe.ndim != 4:
        raise ValueError(f"expected a (1, H, W, C) positional embedding, got shape {tuple(pe.shape)}")
    new_hw = (int(new_hw[0]), int(new_hw[1]))
    if tuple(pe.shape[1:3]) == new_hw:
        return pe
    grid = F.interpolate(pe.permute(0, 3, 1, 2), size=new_hw, mode="bilinear", align_corners=False)
    return grid.permute(0, 2, 3, 1)


def resize_pos_embeds(state_dict: Mapping[str, Tensor], model: "InceptionTransformer") -> dict[str, Tensor]:
    """A copy of ``state_dict`` whose positional embeddings fit ``model``'s image size.

    For loading published 224 px weights into a model built for another size (or the other
    way round) with strict=True. Other entries are passed through untouched.
    """
    out = dict(state_dict)
    for name in model.no_weight_decay():
        if name in out:
            target = getattr(model, name)
            out[name] = resize_pos_embed(out[name], tuple(target.shape[1:3]))
    return out


class Stem(nn.Module):
    """Two stride-2 3x3 convolutions (total stride 4); NCHW image in, channels-last map out.

    Attribute names (proj1, norm1, proj2, norm2) are the published checkpoint's.
    """

    def __init__(self, in_chans: int, dim: int) -> None:
        super().__init__()
        self.proj1 = nn.Conv2d(in_chans, dim // 2, kernel_size=3, stride=2, padding=1)
        self.norm1 = nn.BatchNorm2d(dim // 2)
        self.act = nn.GELU()
        self.proj2 = nn.Conv2d(dim // 2, dim, kernel_size=3, stride=2, padding=1)
        self.norm2 = nn.BatchNorm2d(dim)

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm1(self.proj1(x))
        x = self.norm2(self.proj2(self.act(x)))
        return x.permute(0, 2, 3, 1)


class Downsample(nn.Module):
    """Stride-2 3x3 convolution + BatchNorm between stages (no activation); channels-last in and out."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_dim, out_dim, kernel_size=3, stride=2, padding=1)
        self.norm = nn.BatchNorm2d(out_dim)

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm(self.proj(x.permute(0, 3, 1, 2)))
        return x.permute(0, 2, 3, 1)


class HighMixer(nn.Module):
    """High-frequency mixer: local operators that keep fine detail attention would smooth away.

    Half the channels go through a 1x1 conv + depthwise 3x3 conv, the other half through a
    3x3 max-pool + 1x1 conv; each branch doubles its width, so the output has 2 * dim
    channels, [conv branch, pool branch].
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim <= 0 or dim % 2:
            raise ValueError(f"the high-frequency width must be positive and even, got {dim}")
        half = dim // 2
        self.half = half
        self.conv1 = nn.Conv2d(half, 2 * half, kernel_size=1, bias=False)
        self.proj1 = nn.Conv2d(2 * half, 2 * half, kernel_size=3, padding=1, groups=2 * half, bias=False)
        self.act1 = nn.GELU()
        self.pool = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.proj2 = nn.Conv2d(half, 2 * half, kernel_size=1)
        self.act2 = nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        conv_in, pool_in = x[:, : self.half], x[:, self.half :]
        conv_out = self.act1(self.proj1(self.conv1(conv_in)))
        pool_out = self.act2(self.proj2(self.pool(pool_in)))
        return torch.cat([conv_out, pool_out], dim=1)


class LowMixer(nn.Module):
    """Low-frequency mixer: multi-head self-attention over (optionally average-pooled) tokens.

    Pooling by ``pool_size`` before attention and nearest-upsampling after keeps the
    high-resolution early stages affordable (attention is quadratic in the token count).
    There is no output projection: the inception mixer's fusion conv plays that role.
    """

    def __init__(self, dim: int, num_heads: int, pool_size: int) -> None:
        super().__init__()
        if num_heads < 1 or dim != num_heads * HEAD_DIM:
            raise ValueError(f"low-frequency width {dim} must be {HEAD_DIM} x heads ({num_heads})")
        self.num_heads = num_heads
        self.pool_size = pool_size
        self.qkv = nn.Linear(dim, 3 * dim)
        self.pool: nn.Module = (
            nn.AvgPool2d(pool_size, stride=pool_size, count_include_pad=False) if pool_size > 1 else nn.Identity()
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(x)
        b, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)  # (B, h*w, C), row-major over the map
        qkv = self.qkv(tokens).reshape(b, h * w, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, N, 32)
        # softmax(q k^T / sqrt(32)) v; the default scale of SDPA is head_dim ** -0.5
        out = F.scaled_dot_product_attention(q, k, v)
        # channel = head * 32 + d, the order the published weights expect
        out = out.transpose(2, 3).reshape(b, c, h, w)
        if self.pool_size > 1:
            out = F.interpolate(out, scale_factor=float(self.pool_size), mode="nearest")
        return out


class InceptionMixer(nn.Module):
    """Token mixer of a block: high- and low-frequency paths side by side, then fused.

    Channels-last (B, H, W, C) in and out; NCHW inside because every operator but the
    attention is a convolution or a pool.
    """

    def __init__(self, dim: int, attention_heads: int, pool_size: int) -> None:
        super().__init__()
        low_dim = attention_heads * HEAD_DIM
        high_dim = dim - low_dim
        if high_dim <= 0:
            raise ValueError(
                f"{attention_heads} attention heads x {HEAD_DIM} leave no high-frequency channels of {dim}"
            )
        self.high_dim = high_dim
        self.high_mixer = HighMixer(high_dim)
        self.low_mixer = LowMixer(low_dim, attention_heads, pool_size)
        mixed = 2 * high_dim + low_dim
        # depthwise 3x3 as a residual: the attention output's upsampled blocks get smoothed
        # and the two frequency paths are mixed locally before the 1x1 projection
        self.conv_fuse = nn.Conv2d(mixed, mixed, kernel_size=3, padding=1, groups=mixed, bias=False)
        self.proj = nn.Conv2d(mixed, dim, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(0, 3, 1, 2)
        high = self.high_mixer(x[:, : self.high_dim])
        low = self.low_mixer(x[:, self.high_dim :])
        y = torch.cat([high, low], dim=1)
        y = self.proj(y + self.conv_fuse(y))
        return y.permute(0, 2, 3, 1)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm block on channels-last maps: x + mixer(LN(x)), then x + MLP(LN(x))."""

    def __init__(
        self,
        dim: int,
        attention_heads: int,
        pool_size: int,
        drop_path: float = 0.0,
        layer_scale_init_value: Optional[float] = None,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        # per-channel gammas starting near 0 let deep stages begin close to identity
        self.layer_scale_1: Optional[nn.Parameter] = None
        self.layer_scale_2: Optional[nn.Parameter] = None
        if layer_scale_init_value is not None:
            self.layer_scale_1 = nn.Parameter(torch.full((dim,), float(layer_scale_init_value)))
            self.layer_scale_2 = nn.Parameter(torch.full((dim,), float(layer_scale_init_value)))
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = InceptionMixer(dim, attention_heads, pool_size)  # "attn": the published key name
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self._scaled(self.attn(self.norm1(x)), self.layer_scale_1))
        return x + self.drop_path(self._scaled(self.mlp(self.norm2(x)), self.layer_scale_2))

    @staticmethod
    def _scaled(x: Tensor, gamma: Optional[Tensor]) -> Tensor:
        return x if gamma is None else x * gamma


class InceptionTransformer(nn.Module):
    """iFormer classifier. Images (B, in_chans, H, W) -> logits (B, num_classes).

    ``attention_heads`` is one number per block (all stages, in order): the low-frequency
    head count a_i of that block. H and W of the input must be multiples of 16; inputs of
    another size than the model was built for get resized positional embeddings.
    """

    def __init__(
        self,
        depths: Sequence[int],
        embed_dims: Sequence[int],
        num_heads: Sequence[int],
        attention_heads: Sequence[int],
        num_classes: int = 1000,
        img_size: ImageSize = 224,
        drop_path_rate: float = 0.0,
        layer_scale_init_value: float = 1e-6,
        in_chans: int = 3,
    ) -> None:
        super().__init__()
        depths, embed_dims, num_heads = list(depths), list(embed_dims), list(num_heads)
        attention_heads = list(attention_heads)
        if not len(depths) == len(embed_dims) == len(num_heads) == 4:
            raise ValueError("depths, embed_dims and num_heads need one entry per stage (4)")
        if len(attention_heads) != sum(depths):
            raise ValueError(f"attention_heads needs one entry per block ({sum(depths)}), got {len(attention_heads)}")
        for dim, heads in zip(embed_dims, num_heads):
            # num_heads only fixes the head width; the published nets use 32 everywhere
            if dim != heads * HEAD_DIM:
                raise ValueError(f"embed dim {dim} with {heads} heads is not {HEAD_DIM} per head")
        self.img_size = _as_hw(img_size)
        self.num_classes = num_classes
        self.num_features = self.head_hidden_size = embed_dims[-1]
        self.embed_dims = tuple(embed_dims)
        self.pretrained_cfg: dict[str, Any] = {"mean": IMAGENET_MEAN, "std": IMAGENET_STD}

        # one learned embedding per stage, sized for the build-time image; the published
        # checkpoints store them channels-last as (1, H, W, C)
        for i, ((h, w), dim) in enumerate(zip(_stage_sizes(self.img_size), embed_dims), start=1):
            self.register_parameter(f"pos_embed{i}", nn.Parameter(torch.zeros(1, h, w, dim)))

        # stochastic depth rises linearly over all blocks of all stages
        # (plain Python, not torch.linspace, so that building under torch.device("meta") works)
        n_blocks = sum(depths)
        rates = [drop_path_rate * i / max(n_blocks - 1, 1) for i in range(n_blocks)]
        block_idx = 0
        for stage, depth in enumerate(depths):
            # published names: patch_embed (the stem), then patch_embed2..4 / blocks1..4
            if stage == 0:
                self.patch_embed = Stem(in_chans, embed_dims[0])
            else:
                setattr(self, f"patch_embed{stage + 1}", Downsample(embed_dims[stage - 1], embed_dims[stage]))
            blocks = []
            for _ in range(depth):
                blocks.append(
                    Block(
                        embed_dims[stage],
                        attention_heads[block_idx],
                        POOL_SIZES[stage],
                        drop_path=rates[block_idx],
                        layer_scale_init_value=layer_scale_init_value if LAYER_SCALE_STAGES[stage] else None,
                    )
                )
                block_idx += 1
            setattr(self, f"blocks{stage + 1}", nn.Sequential(*blocks))
        self.norm = nn.LayerNorm(embed_dims[-1], eps=1e-6)
        self.head: nn.Module = nn.Linear(embed_dims[-1], num_classes) if num_classes > 0 else nn.Identity()
        self._init_weights()

    # ------------------------------------------------------------------ set-up
    def _init_weights(self) -> None:
        for i in range(1, 5):
            nn.init.trunc_normal_(getattr(self, f"pos_embed{i}"), std=0.02)
        for m in self.modules():
            self._init_module(m)

    @staticmethod
    def _init_module(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.LayerNorm, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    # ------------------------------------------------------------------ timm conventions
    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        return {f"pos_embed{i}" for i in range(1, 5)}

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict:
        """Layer groups in order (layer decay): the stem, then per stage its downsampling with its
        position embedding before each of its blocks, then the final norm."""
        return {"stem": r"^patch_embed\.|^pos_embed1$",
                "blocks": [(r"^(?:patch_embed|pos_embed)(\d+)", (-1,)), (r"^blocks(\d+)\.(\d+)", None),
                           (r"^norm", (99999,))]}

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None) -> None:
        if global_pool not in (None, "", "avg"):
            raise ValueError(f"iFormer only averages tokens; global_pool={global_pool!r} is not supported")
        self.num_classes = num_classes
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        if num_classes > 0:
            self._init_module(self.head)

    # ------------------------------------------------------------------ forward
    def _stage(self, x: Tensor, index: int) -> Tensor:
        """Add stage ``index``'s positional embedding (resized if the map differs) and run its blocks."""
        pe: Tensor = getattr(self, f"pos_embed{index}")
        x = x + resize_pos_embed(pe, (x.shape[1], x.shape[2]))  # H and W separately: non-square works
        return getattr(self, f"blocks{index}")(x)

    def forward_features(self, images: Tensor) -> Tensor:
        """Images -> normalised token map (B, H/32, W/32, C), channels-last."""
        _as_hw(tuple(images.shape[-2:]))  # a clear error instead of a shape clash deep inside
        x = self._stage(self.patch_embed(images), 1)
        x = self._stage(self.patch_embed2(x), 2)
        x = self._stage(self.patch_embed3(x), 3)
        x = self._stage(self.patch_embed4(x), 4)
        return self.norm(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = x.mean(dim=(1, 2))  # no class token: the image is the average of its tokens
        return x if pre_logits else self.head(x)

    def forward(self, images: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(images))


# ---------------------------------------------------------------------- variants
def _ramp(*runs: tuple[int, int]) -> list[int]:
    """Frequency ramp from (attention heads, number of blocks) runs."""
    return [heads for heads, count in runs for _ in range(count)]


_ARCHS: dict[str, dict[str, Any]] = {
    "iformer_small": dict(
        depths=(3, 3, 9, 3),
        embed_dims=(96, 192, 320, 384),
        num_heads=(3, 6, 10, 12),
        attention_heads=_ramp((1, 3), (3, 3), (7, 4), (9, 5), (11, 3)),
    ),
    "iformer_base": dict(
        depths=(4, 6, 14, 6),
        embed_dims=(96, 192, 384, 512),
        num_heads=(3, 6, 12, 16),
        attention_heads=_ramp((1, 4), (3, 6), (8, 7), (10, 7), (15, 6)),
    ),
    "iformer_large": dict(
        depths=(4, 6, 18, 8),
        embed_dims=(96, 192, 448, 640),
        num_heads=(3, 6, 14, 20),
        attention_heads=_ramp((1, 4), (3, 6), (10, 9), (12, 9), (19, 8)),
    ),
}

# published stochastic depth: (ImageNet training at 224, fine-tuning at 384)
_DROP_PATH: dict[str, tuple[float, float]] = {
    "iformer_small": (0.2, 0.3),
    "iformer_base": (0.4, 0.5),
    "iformer_large": (0.5, 0.6),
}


def default_drop_path_rate(name: str, image_size: ImageSize) -> float:
    """The published rate for a variant: its 384 px rate when the larger image side exceeds 224."""
    at_224, at_384 = _DROP_PATH[name]
    return at_384 if max(_as_hw(image_size)) > 224 else at_224


def _build(
    name: str, num_classes: int, image_size: ImageSize, drop_path_rate: Optional[float], **kw: Any
) -> InceptionTransformer:
    hw = _as_hw(image_size)
    if drop_path_rate is None:
        drop_path_rate = default_drop_path_rate(name, hw)
    return InceptionTransformer(
        **_ARCHS[name], num_classes=num_classes, img_size=hw, drop_path_rate=drop_path_rate, **kw
    )


def iformer_small(
    num_classes: int = 1000, image_size: ImageSize = 224, drop_path_rate: Optional[float] = None, **kw: Any
) -> InceptionTransformer:
    """iFormer-S: 19.9 M parameters at 224 px, 83.4 % ImageNet top-1 published."""
    return _build("iformer_small", num_classes, image_size, drop_path_rate, **kw)


def iformer_base(
    num_classes: int = 1000, image_size: ImageSize = 224, drop_path_rate: Optional[float] = None, **kw: Any
) -> InceptionTransformer:
    """iFormer-B: 47.9 M parameters at 224 px, 84.6 % ImageNet top-1 published."""
    return _build("iformer_base", num_classes, image_size, drop_path_rate, **kw)


def iformer_large(
    num_classes: int = 1000, image_size: ImageSize = 224, drop_path_rate: Optional[float] = None, **kw: Any
) -> InceptionTransformer:
    """iFormer-L: 86.6 M parameters at 224 px, 84.8 % ImageNet top-1 published."""
    return _build("iformer_large", num_classes, image_size, drop_path_rate, **kw)


VARIANTS: dict[str, Callable[..., InceptionTransformer]] = {
    "iformer_small": iformer_small,
    "iformer_base": iformer_base,
    "iformer_large": iformer_large,
}


# ---------------------------------------------------------------------- registry entries
@dataclass
class IFormerOptions:
    drop_path: Optional[float] = None  # None: the published rate for the size and resolution
    pretrained: Optional[str] = None  # a weights file (the authors' release); no library ships them


def _registry_builder(variant: str) -> Callable[[IFormerOptions, int, int], InceptionTransformer]:
    def build(o: IFormerOptions, num_classes: int, image_size: int) -> InceptionTransformer:
        return VARIANTS[variant](
            num_classes=num_classes, image_size=image_size, drop_path_rate=check_drop_path(o.drop_path)
        )

    return build


def _library_file(o: IFormerOptions, image_size: int) -> WeightsFile:
    raise WeightsError(
        "model.pretrained=true: no library ships the Inception Transformer's weights (timm's iformer_* "
        "are a different network). Download the ImageNet checkpoint of your size from the authors' "
        "release (https://github.com/sail-sg/iFormer) and pass it with model.pretrained=PATH"
    )


def _channels_first(x: Tensor) -> Tensor:
    return x.permute(0, 3, 1, 2)


def iformer_explain_target(model: nn.Module) -> ExplainTarget:
    """The last stage's normalised token map (B, H/32, W/32, C), channels-last -> (B, C, H, W)."""
    return ExplainTarget([model.norm], _channels_first)


IFORMER_EXPLAIN = ExplainSpec(
    "gradcam", iformer_explain_target,
    why="Grad-CAM on the last stage's token map: it is averaged into a linear head (no class token), as in a CNN",
)

IFORMER_WEIGHTS = WeightsRecipe(library_file=_library_file, resize=resize_pos_embeds, classifier="head")
for _size in ("small", "base", "large"):
    register(f"iformer_{_size}", _registry_builder(f"iformer_{_size}"), IFormerOptions(),
             f"Inception Transformer {_size} (Si et al. 2022), written in this project", weights=IFORMER_WEIGHTS,
             explain=IFORMER_EXPLAIN)
