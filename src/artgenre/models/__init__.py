"""Model registry: every model the CLI can train, by its config name.

``build_model("resnet50", num_classes=10, image_size=384)`` is what the training uses;
each entry pairs a builder with a dataclass of its options, which doubles as the
config schema for ``model=<name>`` (see artgenre.config).

Adding a model: write ``build(opts, num_classes, image_size) -> nn.Module`` and call
``register("name", build, Options())``. No if/elif chain to extend.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Optional

from torch import nn

from artgenre.models.layers import IMAGENET_MEAN, IMAGENET_STD
from artgenre.models.vit import VisionTransformer

Builder = Callable[[Any, int, int], nn.Module]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Builder
    defaults: Any  # a dataclass instance: the options and their default values
    summary: str


_REGISTRY: dict[str, ModelSpec] = {}


def register(name: str, build: Builder, defaults: Any, summary: str = "") -> None:
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is registered twice")
    _REGISTRY[name] = ModelSpec(name, build, defaults, summary)


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
    """Build a registered model by its config name, e.g. ``build_model("vit_scratch", 10, 224, depth=6)``."""
    spec = _spec(name)
    try:
        opts = dataclasses.replace(spec.defaults, **overrides)
    except TypeError:
        known = [f.name for f in dataclasses.fields(spec.defaults)]
        bad = sorted(set(overrides) - set(known))
        raise TypeError(f"model {name!r} has no option(s) {bad}; its options: {known}") from None
    model = spec.build(opts, num_classes, image_size)
    if not hasattr(model, "pretrained_cfg"):
        model.pretrained_cfg = {"mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    return model


def normalization(model: nn.Module) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and std the model's inputs should be normalised with."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    return tuple(cfg.get("mean", IMAGENET_MEAN)), tuple(cfg.get("std", IMAGENET_STD))


# ---------------------------------------------------------------- the project's own ViT
@dataclass
class VitOptions:
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    patch_size: int = 16
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    drop_path_rate: float = 0.0


def _build_vit(o: VitOptions, num_classes: int, image_size: int) -> nn.Module:
    return VisionTransformer(
        image_size=image_size, patch_size=o.patch_size, num_classes=num_classes, embed_dim=o.embed_dim,
        depth=o.depth, num_heads=o.num_heads, mlp_ratio=o.mlp_ratio, dropout=o.dropout,
        drop_path_rate=o.drop_path_rate,
    )


register("vit_scratch", _build_vit, VitOptions(), "ViT-B/16 shape written in this project (768 wide, 12 blocks, 12 heads)")
register(
    "vit_scratch_study", _build_vit, VitOptions(depth=6, num_heads=6),
    "the ViT the study's code actually ran: 6 blocks, 6 heads",
)


# ---------------------------------------------------------------- timm's ViT-B/16
@dataclass
class TimmVitOptions:
    drop_path_rate: float = 0.0


def _build_vit_timm(o: TimmVitOptions, num_classes: int, image_size: int) -> nn.Module:
    import timm

    # 224 and 384 are the same network; the name only selects the native position grid
    arch = "vit_base_patch16_384" if image_size >= 384 else "vit_base_patch16_224"
    return timm.create_model(
        arch, pretrained=False, num_classes=num_classes, img_size=image_size, drop_path_rate=o.drop_path_rate
    )


register("vit_timm", _build_vit_timm, TimmVitOptions(), "timm vit_base_patch16_224/384 with a num_classes head")


# ---------------------------------------------------------------- torchvision's ResNet-50
@dataclass
class ResNetOptions:
    zero_init_residual: bool = False


def _build_resnet50(o: ResNetOptions, num_classes: int, image_size: int) -> nn.Module:
    from torchvision.models import resnet50

    model = resnet50(weights=None, zero_init_residual=o.zero_init_residual)
    model.fc = nn.Linear(model.fc.in_features, num_classes)  # ImageNet's 1000 classes -> ours
    return model


register("resnet50", _build_resnet50, ResNetOptions(), "torchvision ResNet-50, final layer replaced")


# ---------------------------------------------------------------- any timm architecture
@dataclass
class TimmOptions:
    arch: str = "resnet18"
    drop_path_rate: Optional[float] = None


def _build_timm(o: TimmOptions, num_classes: int, image_size: int) -> nn.Module:
    import timm

    if not timm.is_model(o.arch):
        raise ValueError(f"timm has no architecture {o.arch!r} (see timm.list_models())")
    kwargs: dict[str, Any] = {"num_classes": num_classes}
    if o.drop_path_rate is not None:
        kwargs["drop_path_rate"] = o.drop_path_rate
    try:  # transformers need the input size at build time; convnets refuse the argument
        return timm.create_model(o.arch, pretrained=False, img_size=image_size, **kwargs)
    except TypeError:
        return timm.create_model(o.arch, pretrained=False, **kwargs)


register("timm", _build_timm, TimmOptions(), "any timm architecture, chosen with model.arch")

# ---------------------------------------------------------------- the Inception Transformer
@dataclass
class IFormerOptions:
    drop_path_rate: Optional[float] = None  # None: the published rate for the size and resolution


def _iformer_builder(variant: str) -> Builder:
    def build(o: IFormerOptions, num_classes: int, image_size: int) -> nn.Module:
        from artgenre.models import iformer

        return iformer.VARIANTS[variant](num_classes=num_classes, image_size=image_size, drop_path_rate=o.drop_path_rate)

    return build


for _size in ("small", "base", "large"):
    register(f"iformer_{_size}", _iformer_builder(f"iformer_{_size}"), IFormerOptions(),
             f"Inception Transformer {_size} (Si et al. 2022), written in this project")
