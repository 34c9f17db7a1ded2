"""The model registry: every model the CLI can train, by its config name.

Each family registers its entries in its own module (models/resnet.py, vit.py, timm_models.py,
iformer.py), as timm does; importing ``artgenre.models`` imports them all. An entry pairs a
builder with an instance of its options dataclass: the one place where the family's options
and their defaults are written. That instance is the config schema of ``model=<name>``
(artgenre.config); two entries may share a dataclass with different defaults
(``vit_scratch`` and ``vit_scratch_study``).

Listing what is registered::

    for name, spec in model_specs().items():
        spec.defaults              # the options dataclass instance, with this entry's defaults
        type(spec.defaults)        # the options dataclass (its own defaults may be another entry's)
        model_config_class(name)   # a dataclass with ``name`` first and this entry's defaults: conf/model/<name>.yaml

Adding a model: write ``build(opts, num_classes, image_size) -> nn.Module``, give its options
dataclass a ``pretrained: Optional[str] = None`` and a ``drop_path`` field, and call
``register("name", build, Options(), weights=WeightsRecipe(...))`` in the family's module
(imported by models/__init__.py). No if/elif chain to extend.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Callable, Optional

from torch import nn

from artgenre.errors import ConfigError
from artgenre.models import pretrained as weights_io
from artgenre.models.layers import IMAGENET_MEAN, IMAGENET_STD
from artgenre.models.pretrained import WeightsRecipe

Builder = Callable[[Any, int, int], nn.Module]


@dataclass(frozen=True)
class ExplainTarget:
    """Where a heatmap method reads a built model: the layer(s) whose activations and gradients it
    weighs, and how their output becomes a (B, C, H, W) map (ViT tokens -> the patch grid)."""

    layers: list[nn.Module]
    reshape: Optional[Callable[[Any], Any]] = None  # activations -> (B, C, H, W); None: already so


@dataclass(frozen=True)
class ExplainSpec:
    """How ``artgenre-explain`` looks inside a family: its default heatmap method (a name in
    artgenre.evaluation.explain.METHODS), the target of a built model, and why (docs/explain.md)."""

    method: str
    target: Callable[[nn.Module], ExplainTarget]
    why: str = ""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Builder
    defaults: Any  # a dataclass instance: the options and their default values
    summary: str
    weights: WeightsRecipe  # how model.pretrained finds and fits weights for this family
    explain: Optional[ExplainSpec] = None  # how artgenre-explain draws this family's heatmaps


_REGISTRY: dict[str, ModelSpec] = {}


def register(
    name: str, build: Builder, defaults: Any, summary: str = "", weights: WeightsRecipe = WeightsRecipe(),
    explain: Optional[ExplainSpec] = None,
) -> None:
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is registered twice")
    _REGISTRY[name] = ModelSpec(name, build, defaults, summary, weights, explain)


def explain_spec(name: str) -> ExplainSpec:
    """How to draw heatmaps for model ``name`` (its family's entry); ConfigError if it has none."""
    spec = _spec(name).explain
    if spec is None:
        raise ConfigError(f"model {name!r} has no heatmap method registered (models/registry.py: explain=)")
    return spec


def available_models() -> list[str]:
    return sorted(_REGISTRY)


def model_specs() -> dict[str, ModelSpec]:
    """Every registered entry by name, sorted: ``spec.defaults`` is its options instance."""
    return {name: _REGISTRY[name] for name in available_models()}


def _spec(name: str) -> ModelSpec:
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; available: {', '.join(available_models())}")
    return _REGISTRY[name]


def model_schema(name: str) -> Any:
    """The options dataclass instance of a registered model (its config schema with defaults)."""
    return _spec(name).defaults


def model_config_class(name: str) -> type:
    """A dataclass for ``model=<name>``: ``name`` (defaulting to ``name``), then the entry's options.

    Its defaults are the entry's (``vit_scratch_study``: depth 6), so it can be stored in
    Hydra's ConfigStore as the ``model`` group's ``<name>`` node.
    """
    defaults = model_schema(name)
    hints = typing.get_type_hints(type(defaults))  # the real types: the modules use postponed annotations
    fields: list[Any] = [("name", str, dataclasses.field(default=name))]
    for f in dataclasses.fields(defaults):
        fields.append((f.name, hints[f.name], dataclasses.field(default=getattr(defaults, f.name))))
    cls_name = "".join(part.capitalize() for part in name.split("_")) + "Config"
    cls = dataclasses.make_dataclass(cls_name, fields)
    cls.__module__ = __name__  # make_dataclass takes module= only from Python 3.12
    return cls


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


def check_drop_path(rate: Optional[float]) -> Optional[float]:
    """``rate`` itself, or ValueError (a ConfigError naming the model, via build_model) outside [0, 1)."""
    if rate is not None and not 0.0 <= rate < 1.0:
        raise ValueError(f"drop_path must be in [0, 1) (the stochastic-depth rate of the last block), got {rate}")
    return rate


def check_positive(options: Any, *names: str) -> None:
    """ValueError (a ConfigError naming the model, via build_model) for options below 1."""
    for name in names:
        value = getattr(options, name)
        if value is None or value < 1:
            raise ValueError(f"model.{name} must be at least 1, got {value}")
