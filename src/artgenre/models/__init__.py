"""Model registry: every model the CLI can train, by its config name.

``build_model("resnet50", num_classes=10, image_size=384)`` is what the training uses;
each entry pairs a builder with a dataclass of its options, which doubles as the
config schema for ``model=<name>`` (see artgenre.config).

Every model takes ``pretrained`` (see artgenre.models.pretrained): a weights file, or
``True`` for the weights a library (timm, torchvision) already has in its local cache::

    build_model("vit_scratch", num_classes=10, image_size=384, pretrained="vit_b16.safetensors")

Every model also takes ``drop_path`` (stochastic depth): the rate of its deepest residual
block, rising linearly from 0 over the blocks; 0 turns it off, ``None`` (timm, iformer_*) leaves
the family's own default. A rate outside [0, 1) is a ConfigError.

Adding a model: write ``build(opts, num_classes, image_size) -> nn.Module``, give its options
dataclass a ``pretrained: Optional[str] = None`` and a ``drop_path`` field and call
``register("name", build, Options(), weights=WeightsRecipe(...))``. No if/elif chain to extend.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, Callable, Optional

from torch import nn

from artgenre.errors import ConfigError, WeightsError
from artgenre.models import pretrained as weights_io
from artgenre.models.layers import IMAGENET_MEAN, IMAGENET_STD, DropPath
from artgenre.models.pretrained import WeightsFile, WeightsRecipe
from artgenre.models.summary import model_summary  # noqa: F401  (public: the training's summary line)
from artgenre.models.vit import VisionTransformer

Builder = Callable[[Any, int, int], nn.Module]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Builder
    defaults: Any  # a dataclass instance: the options and their default values
    summary: str
    weights: WeightsRecipe  # how model.pretrained finds and fits weights for this family


_REGISTRY: dict[str, ModelSpec] = {}


def register(
    name: str, build: Builder, defaults: Any, summary: str = "", weights: WeightsRecipe = WeightsRecipe()
) -> None:
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is registered twice")
    _REGISTRY[name] = ModelSpec(name, build, defaults, summary, weights)


def available_models() -> list[str]:
    return sorted(_REGISTRY)


def _spec(name: str) -> ModelSpec:
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; available: {', '.join(available_models())}")
    return _REGISTRY[name]


def model_schema(name: str) -> Any:
    """The options dataclass instance of a registered model (its config schema with defaults)."""
    return _spec(name).defaults


def build_model(name: str, num_classes: int, image_size: int, **overrides: Any) -> nn.Module:
    """Build a registered model by its config name, e.g. ``build_model("vit_scratch", 10, 224, depth=6)``.

    ``pretrained=PATH`` (or ``True`` for a library's cached weights) loads ImageNet weights,
    with the classifier re-initialised and the position embeddings resized as needed; the
    model's ``weights_origin`` then says what was loaded. Raises WeightsError when the
    weights cannot be found or do not fit.
    """
    spec = _spec(name)
    try:
        opts = dataclasses.replace(spec.defaults, **overrides)
    except TypeError:
        known = [f.name for f in dataclasses.fields(spec.defaults)]
        bad = sorted(set(overrides) - set(known))
        raise TypeError(f"model {name!r} has no option(s) {bad}; its options: {known}") from None
    # resolved before building: a missing file should fail at once, not after a large model is built
    weights = weights_io.resolve(getattr(opts, "pretrained", None), spec.weights, opts, image_size, name)
    try:
        model = spec.build(opts, num_classes, image_size)
    except ValueError as e:  # e.g. an image size the architecture cannot take
        raise ConfigError(f"model={name}: {e}") from None
    if not hasattr(model, "pretrained_cfg"):
        model.pretrained_cfg = {"mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    model.weights_origin = (
        weights_io.load_into(model, weights, spec.weights, name) if weights else weights_io.RANDOM_INIT
    )
    return model


def normalization(model: nn.Module) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and std the model's inputs should be normalised with."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    return tuple(cfg.get("mean", IMAGENET_MEAN)), tuple(cfg.get("std", IMAGENET_STD))


def _check_drop_path(rate: Optional[float]) -> Optional[float]:
    """``rate`` itself, or ValueError (a ConfigError naming the model, via build_model) outside [0, 1)."""
    if rate is not None and not 0.0 <= rate < 1.0:
        raise ValueError(f"drop_path must be in [0, 1) (the stochastic-depth rate of the last block), got {rate}")
    return rate


# ---------------------------------------------------------------- the project's own ViT
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


def _build_vit(o: VitOptions, num_classes: int, image_size: int) -> nn.Module:
    return VisionTransformer(
        image_size=image_size, patch_size=o.patch_size, num_classes=num_classes, embed_dim=o.embed_dim,
        depth=o.depth, num_heads=o.num_heads, mlp_ratio=o.mlp_ratio, dropout=o.dropout,
        drop_path_rate=_check_drop_path(o.drop_path),
    )


def _vit_b16_arch(image_size: int) -> str:
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
    return weights_io.timm_cached_file(_vit_b16_arch(image_size))


VIT_WEIGHTS = WeightsRecipe(
    library_file=_vit_scratch_library_file, resize=weights_io.resize_vit_pos_embed, classifier="head"
)
register(
    "vit_scratch", _build_vit, VitOptions(), "ViT-B/16 shape written in this project (768 wide, 12 blocks, 12 heads)",
    weights=VIT_WEIGHTS,
)
register(
    "vit_scratch_study", _build_vit, VitOptions(depth=6, num_heads=6),
    "the ViT the study's code actually ran: 6 blocks, 6 heads", weights=VIT_WEIGHTS,
)


# ---------------------------------------------------------------- timm's ViT-B/16
@dataclass
class TimmVitOptions:
    drop_path: float = 0.0  # stochastic depth of the last block, rising linearly from 0 at the first
    pretrained: Optional[str] = None  # a weights file, or true: timm's weights from its cache


def _build_vit_timm(o: TimmVitOptions, num_classes: int, image_size: int) -> nn.Module:
    import timm

    return timm.create_model(
        _vit_b16_arch(image_size), pretrained=False, num_classes=num_classes, img_size=image_size,
        drop_path_rate=_check_drop_path(o.drop_path),
    )


register(
    "vit_timm", _build_vit_timm, TimmVitOptions(), "timm vit_base_patch16_224/384 with a num_classes head",
    weights=WeightsRecipe(
        library_file=lambda o, image_size: weights_io.timm_cached_file(_vit_b16_arch(image_size)),
        resize=weights_io.resize_vit_pos_embed, classifier="head",
    ),
)


# ---------------------------------------------------------------- torchvision's ResNet-50
@dataclass
class ResNetOptions:
    zero_init_residual: bool = False
    drop_path: float = 0.0  # stochastic depth of the last Bottleneck, rising linearly from 0 at the first
    pretrained: Optional[str] = None  # a weights file, or true: torchvision's weights from its cache


def _drop_residual(drop: DropPath, module: nn.Module, args: Any, output: Any) -> Any:
    """Forward hook on a Bottleneck's bn3: its output is the residual branch, just before ``+= identity``."""
    return drop(output)


def add_resnet_drop_path(model: nn.Module, rate: float) -> nn.Module:
    """Stochastic depth for a torchvision ResNet, as timm's ResNets have it.

    Block i of the n residual blocks drops its residual branch (per sample, rescaled by 1/(1-p)
    in training, untouched in eval) with p = rate * i / (n - 1). The branch's last layer
    (bn3, or bn2 of a BasicBlock) gets a forward hook that passes its output through a
    ``DropPath`` kept as the block's ``drop_path`` child: that module has no parameters or
    buffers, so the state_dict keys stay torchvision's and its weights load strictly, and it
    follows ``model.train()``/``model.eval()`` like any child. The hook is a module-level
    function bound with functools.partial, so the model still pickles, deep-copies and
    compiles. ``rate == 0`` adds nothing; blocks whose own rate is 0 (the first) get nothing.
    """
    from torchvision.models.resnet import BasicBlock, Bottleneck

    _check_drop_path(rate)
    blocks = [m for m in model.modules() if isinstance(m, (Bottleneck, BasicBlock))]
    for i, block in enumerate(blocks):
        p = rate * i / max(len(blocks) - 1, 1)
        if p == 0.0:
            continue
        block.drop_path = DropPath(p)
        last_norm = block.bn3 if isinstance(block, Bottleneck) else block.bn2
        last_norm.register_forward_hook(functools.partial(_drop_residual, block.drop_path))
    return model


def _build_resnet50(o: ResNetOptions, num_classes: int, image_size: int) -> nn.Module:
    from torchvision.models import resnet50

    _check_drop_path(o.drop_path)
    model = resnet50(weights=None, zero_init_residual=o.zero_init_residual)
    model.fc = nn.Linear(model.fc.in_features, num_classes)  # ImageNet's 1000 classes -> ours
    return add_resnet_drop_path(model, o.drop_path)


register(
    "resnet50", _build_resnet50, ResNetOptions(), "torchvision ResNet-50, final layer replaced",
    # a convnet has no position embeddings: any image size takes the weights as they are
    weights=WeightsRecipe(library_file=lambda o, image_size: weights_io.torchvision_cached_file("resnet50"),
                          classifier="fc"),
)


# ---------------------------------------------------------------- any timm architecture
@dataclass
class TimmOptions:
    arch: str = "resnet18"
    drop_path: Optional[float] = None  # None: timm's default for arch (0 for most); passed as its drop_path_rate
    pretrained: Optional[str] = None  # a weights file, or true: timm's weights for arch from its cache


def _build_timm(o: TimmOptions, num_classes: int, image_size: int) -> nn.Module:
    import timm

    if not timm.is_model(o.arch):
        raise ValueError(f"timm has no architecture {o.arch!r} (see timm.list_models())")
    kwargs: dict[str, Any] = {"num_classes": num_classes}
    if _check_drop_path(o.drop_path) is not None:
        kwargs["drop_path_rate"] = o.drop_path
    try:  # transformers need the input size at build time; convnets refuse the argument
        return timm.create_model(o.arch, pretrained=False, img_size=image_size, **kwargs)
    except TypeError:
        return timm.create_model(o.arch, pretrained=False, **kwargs)


register(
    "timm", _build_timm, TimmOptions(), "any timm architecture, chosen with model.arch",
    # the classifier is whatever the model's get_classifier() returns
    weights=WeightsRecipe(library_file=lambda o, image_size: weights_io.timm_cached_file(o.arch),
                          resize=weights_io.resize_vit_pos_embed),
)

# ---------------------------------------------------------------- the Inception Transformer
@dataclass
class IFormerOptions:
    drop_path: Optional[float] = None  # None: the published rate for the size and resolution
    pretrained: Optional[str] = None  # a weights file (the authors' release); no library ships them


def _iformer_builder(variant: str) -> Builder:
    def build(o: IFormerOptions, num_classes: int, image_size: int) -> nn.Module:
        from artgenre.models import iformer

        return iformer.VARIANTS[variant](
            num_classes=num_classes, image_size=image_size, drop_path_rate=_check_drop_path(o.drop_path)
        )

    return build


def _iformer_library_file(o: IFormerOptions, image_size: int) -> WeightsFile:
    raise WeightsError(
        "model.pretrained=true: no library ships the Inception Transformer's weights (timm's iformer_* "
        "are a different network). Download the ImageNet checkpoint of your size from the authors' "
        "release (https://github.com/sail-sg/iFormer) and pass it with model.pretrained=PATH"
    )


def _resize_iformer_pos_embeds(state: dict, model: nn.Module) -> dict:
    from artgenre.models.iformer import resize_pos_embeds  # all four stages' embeddings

    return resize_pos_embeds(state, model)


IFORMER_WEIGHTS = WeightsRecipe(
    library_file=_iformer_library_file, resize=_resize_iformer_pos_embeds, classifier="head"
)
for _size in ("small", "base", "large"):
    register(f"iformer_{_size}", _iformer_builder(f"iformer_{_size}"), IFormerOptions(),
             f"Inception Transformer {_size} (Si et al. 2022), written in this project", weights=IFORMER_WEIGHTS)
