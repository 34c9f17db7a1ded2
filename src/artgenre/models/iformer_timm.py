"""The Inception Transformer in timm's registry: ``timm.create_model("iformer_small", ...)`` builds ours.

What it is for: ``model=timm model.arch=iformer_small`` (or _base, _large), since the ``timm``
family's builder (models/timm_models.py) imports this module, and code outside the CLI that
builds models by timm name. ``model=iformer_small`` needs none of it.

Importing this module registers the three variants (idempotent: a reload replaces ours
silently); it refuses to shadow a timm model of the same name, such as timm's own
``iformer_s`` (Zheng 2025, a different network). Kept apart from models/iformer.py so that
importing ``artgenre.models`` neither imports timm nor changes its registry.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, Callable, Optional

import torch

from artgenre.models.iformer import VARIANTS, ImageSize, InceptionTransformer, _as_hw

__all__ = ["register_timm_models"]

_TIMM_MARK = "_artgenre_iformer"  # tells our entry points apart from timm's or anyone else's


def _timm_entrypoint(name: str) -> Callable[..., InceptionTransformer]:
    """A ``timm.create_model`` entry point for one variant.

    timm calls it with pretrained, pretrained_cfg, pretrained_cfg_overlay and cache_dir
    always, plus the caller's non-None kwargs (img_size, num_classes, drop_path_rate,
    in_chans, ...).
    """
    builder = VARIANTS[name]

    def entrypoint(
        pretrained: bool = False,
        pretrained_cfg: Any = None,
        pretrained_cfg_overlay: Optional[Mapping[str, Any]] = None,
        cache_dir: Any = None,
        img_size: Optional[ImageSize] = None,
        num_classes: int = 1000,
        drop_path_rate: Optional[float] = None,
        device: Any = None,
        dtype: Optional[torch.dtype] = None,
        **kwargs: Any,
    ) -> InceptionTransformer:
        if pretrained:
            raise RuntimeError(
                f"no pretrained weights are registered with timm for {name} (the Si et al. 2022 iFormer); "
                "build it with pretrained=False and load the published checkpoint with "
                "load_state_dict(resize_pos_embeds(state_dict, model), strict=True)"
            )
        if "image_size" in kwargs:  # the project's spelling, accepted as an alias
            alias = kwargs.pop("image_size")
            if img_size is not None and _as_hw(alias) != _as_hw(img_size):
                raise ValueError(f"img_size={img_size!r} and image_size={alias!r} disagree")
            img_size = alias
        model = builder(
            num_classes=num_classes,
            image_size=224 if img_size is None else img_size,
            drop_path_rate=drop_path_rate,
            **kwargs,
        )
        # a pretrained cfg given to timm can only change the input normalisation here
        for cfg in (pretrained_cfg, pretrained_cfg_overlay):
            if cfg is not None and not isinstance(cfg, str):
                cfg = cfg if isinstance(cfg, Mapping) else cfg.to_dict()
                model.pretrained_cfg.update({k: tuple(cfg[k]) for k in ("mean", "std") if cfg.get(k) is not None})
        if device is not None or dtype is not None:
            model = model.to(device=device, dtype=dtype)
        return model

    entrypoint.__name__ = entrypoint.__qualname__ = name  # timm registers under __name__
    entrypoint.__module__ = __name__
    entrypoint.__doc__ = f"timm entry point for {name} (Si et al. 2022 Inception Transformer)."
    setattr(entrypoint, _TIMM_MARK, True)
    return entrypoint


def _register_timm_entrypoint(fn: Callable[..., Any]) -> None:
    from timm.models import is_model, model_entrypoint, register_model

    name = fn.__name__
    if is_model(name):
        existing = model_entrypoint(name)
        if not getattr(existing, _TIMM_MARK, False):
            raise RuntimeError(
                f"timm already has a model named {name!r} ({existing.__module__}); "
                "refusing to overwrite it with the Si et al. 2022 iFormer"
            )
        # ours from an earlier import (module reloaded or imported under a second name):
        # replacing it is expected, so timm's "overwriting" warning is noise here
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            register_model(fn)
        return
    register_model(fn)


def register_timm_models() -> None:
    """Make ``timm.create_model("iformer_small" | "iformer_base" | "iformer_large", ...)`` build ours.

    Called on import; idempotent. Raises RuntimeError rather than shadow a timm model of
    the same name.
    """
    for name in VARIANTS:
        _register_timm_entrypoint(_timm_entrypoint(name))


register_timm_models()
