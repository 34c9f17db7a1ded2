"""Models timm builds: ``vit_timm`` (its ViT-B/16) and ``timm`` (any timm architecture, ``model.arch``).

``model=timm model.arch=iformer_small`` (or _base, _large) builds this project's Inception
Transformer through timm: the builder imports models/iformer_timm.py, which enters it in
timm's registry. ``model=iformer_small`` builds the same network directly and is the better
choice for training (its pretrained weights are resized for all four stages).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Optional

from torch import nn

from artgenre.models import pretrained as weights_io
from artgenre.models.pretrained import WeightsRecipe
from artgenre.errors import ConfigError
from artgenre.models.registry import ExplainSpec, ExplainTarget, check_drop_path, register
from artgenre.models.vit import VIT_EXPLAIN, vit_b16_arch, vit_explain_target


# ---------------------------------------------------------------- timm's ViT-B/16
@dataclass
class TimmVitOptions:
    drop_path: float = 0.0  # stochastic depth of the last block, rising linearly from 0 at the first
    pretrained: Optional[str] = None  # a weights file, or true: timm's weights from its cache


def _build_vit_timm(o: TimmVitOptions, num_classes: int, image_size: int) -> nn.Module:
    import timm

    return timm.create_model(
        vit_b16_arch(image_size), pretrained=False, num_classes=num_classes, img_size=image_size,
        drop_path_rate=check_drop_path(o.drop_path),
    )


register(
    "vit_timm", _build_vit_timm, TimmVitOptions(), "timm vit_base_patch16_224/384 with a num_classes head",
    weights=WeightsRecipe(
        library_file=lambda o, image_size: weights_io.timm_cached_file(vit_b16_arch(image_size)),
        resize=weights_io.resize_vit_pos_embed, classifier="head",
    ),
    explain=VIT_EXPLAIN,
)


# ---------------------------------------------------------------- any timm architecture
@dataclass
class TimmOptions:
    arch: str = "resnet18"
    drop_path: Optional[float] = None  # None: timm's default for arch (0 for most); passed as its drop_path_rate
    pretrained: Optional[str] = None  # a weights file, or true: timm's weights for arch from its cache


def _build_timm(o: TimmOptions, num_classes: int, image_size: int) -> nn.Module:
    import timm

    import artgenre.models.iformer_timm  # noqa: F401  (model.arch=iformer_small|base|large: ours, in timm's registry)

    if not timm.is_model(o.arch):
        raise ValueError(f"timm has no architecture {o.arch!r} (see timm.list_models())")
    kwargs: dict[str, Any] = {"num_classes": num_classes}
    if check_drop_path(o.drop_path) is not None:
        kwargs["drop_path_rate"] = o.drop_path
    try:  # transformers need the input size at build time; convnets refuse the argument
        return timm.create_model(o.arch, pretrained=False, img_size=image_size, **kwargs)
    except TypeError:
        return timm.create_model(o.arch, pretrained=False, **kwargs)


def _to_channels_first(x: Any, channels: int) -> Any:
    """timm's channels-last stages (Swin, ...) give (B, H, W, C): Grad-CAM wants (B, C, H, W)."""
    return x.permute(0, 3, 1, 2) if x.ndim == 4 and x.shape[1] != channels and x.shape[-1] == channels else x


def _timm_explain_target(model: nn.Module) -> ExplainTarget:
    """Our iFormer and timm's ViTs as their own families; any other timm network at the last
    stage timm lists in its ``feature_info`` (layer4 of a ResNet, the last stage of a ConvNeXt)."""
    from artgenre.models.iformer import InceptionTransformer, iformer_explain_target

    if isinstance(model, InceptionTransformer):
        return iformer_explain_target(model)
    if hasattr(model, "blocks") and hasattr(getattr(model, "patch_embed", None), "grid_size") \
            and hasattr(model, "num_prefix_tokens"):
        return vit_explain_target(model)
    info = getattr(model, "feature_info", None)
    if not info or not isinstance(info, list) or "module" not in info[-1]:
        raise ConfigError(f"artgenre-explain does not know where to look inside {type(model).__name__}: "
                          "timm lists no feature stages for it")
    last = info[-1]
    return ExplainTarget([model.get_submodule(last["module"])],
                         functools.partial(_to_channels_first, channels=int(last["num_chs"])))


register(
    "timm", _build_timm, TimmOptions(), "any timm architecture, chosen with model.arch",
    # the classifier is whatever the model's get_classifier() returns
    weights=WeightsRecipe(library_file=lambda o, image_size: weights_io.timm_cached_file(o.arch),
                          resize=weights_io.resize_vit_pos_embed),
    explain=ExplainSpec("gradcam", _timm_explain_target,
                        why="the family of the architecture: ViTs on their tokens, convnets on their last stage"),
)
