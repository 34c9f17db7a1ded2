"""Every model the CLI can train, by its config name.

``build_model("resnet50", num_classes=10, image_size=384)`` is what the training uses;
each name's entry pairs a builder with a dataclass of its options, which doubles as the
config schema for ``model=<name>`` (see artgenre.config).

Every model takes ``pretrained`` (see artgenre.models.pretrained): a weights file, or
``True`` for the weights a library (timm, torchvision) already has in its local cache::

    build_model("vit_scratch", num_classes=10, image_size=384, pretrained="vit_b16.safetensors")

Every model also takes ``drop_path`` (stochastic depth): the rate of its deepest residual
block, rising linearly from 0 over the blocks; 0 turns it off, ``None`` (timm, iformer_*) leaves
the family's own default. A rate outside [0, 1) is a ConfigError.

The package:

- registry.py: ``register``, ``build_model``, ``model_schema``, ``available_models``,
  ``model_specs``, ``model_config_class``, ``normalization``
- one module per family, each registering its entries on import: resnet.py (``resnet50``),
  vit.py (``vit_scratch``, ``vit_scratch_study``), timm_models.py (``vit_timm``, ``timm``),
  iformer.py (``iformer_small``, ``iformer_base``, ``iformer_large``)
- iformer_timm.py: the Inception Transformer in timm's registry (``model=timm model.arch=iformer_small``)
- layers.py (shared layers), pretrained.py (finding and fitting weights), summary.py (the log line)
"""

from __future__ import annotations

from artgenre.models import iformer, resnet, timm_models, vit  # noqa: F401  (each registers its models)
from artgenre.models.registry import (
    ExplainSpec,
    ExplainTarget,
    ModelSpec,
    available_models,
    build_model,
    explain_spec,
    model_config_class,
    model_schema,
    model_specs,
    normalization,
    register,
)
from artgenre.models.summary import model_summary

__all__ = [
    "ExplainSpec",
    "ExplainTarget",
    "ModelSpec",
    "available_models",
    "build_model",
    "explain_spec",
    "model_config_class",
    "model_schema",
    "model_specs",
    "model_summary",
    "normalization",
    "register",
]
