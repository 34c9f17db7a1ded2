"""Pretrained weights for any registered model: from a local file, or from a library's cache.

``model.pretrained=PATH`` reads a ``.pth`` / ``.pt`` / ``.bin`` (PyTorch) or ``.safetensors``
file holding a state_dict, raw or wrapped under ``model``, ``state_dict`` or ``model_ema``
the way training scripts save it, with DDP's ``module.`` prefixes or not.
``model.pretrained=true`` takes the file that timm (Hugging Face hub cache) or torchvision
(torch hub cache) kept after an earlier download of the same weights.

ImageNet weights do not fit a painting classifier as they are. Three rules make them fit:

* The classifier. 1000 ImageNet classes are not our ten, so a final layer of another size
  is left out of the load and keeps the random initialisation the model was built with.
* Position embeddings. They are learned for the pretraining image size (a 14x14 patch grid
  for ViT-B/16 at 224 px) and are resized to the configured one (24x24 at 384 px).
* Everything else must match exactly. When it does not, the error names the first keys that
  differ, instead of PyTorch's wall of size-mismatch lines.

Nothing here downloads: compute nodes of a cluster often have no internet, and a download
that waits on a dead network wastes a queued job. When the cache is empty the message says
where the file was expected and the one command that fetches it on a machine with internet.
Nothing here unpickles arbitrary objects either: PyTorch files are read with
``weights_only=True``, which refuses anything but tensors and plain containers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import urlparse

import torch
from torch import Tensor, nn

from artgenre.errors import WeightsError
from artgenre.models.layers import grid_of, resize_pos_embed

StateDict = dict[str, Tensor]
Resizer = Callable[[StateDict, nn.Module], StateDict]

RANDOM_INIT = "random init"
WRAPPER_KEYS = ("model", "state_dict", "model_ema")  # searched in this order
WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # added by DistributedDataParallel and torch.compile
HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")  # timm's order: safetensors first
SHOWN_KEYS = 3  # how many mismatching keys an error message names per kind


@dataclass(frozen=True)
class WeightsFile:
    """A weights file to load and where it was found."""

    path: Path
    found_in: str = "file"  # "file" (model.pretrained=PATH) or the library cache it came from
    # the input normalisation the weights were trained with, when the library says so
    mean: Optional[tuple[float, ...]] = None
    std: Optional[tuple[float, ...]] = None

    def describe(self) -> str:
        return str(self.path) if self.found_in == "file" else f"{self.found_in} {self.path}"


LibraryLookup = Callable[[Any, int], WeightsFile]  # (model options, image size) -> cached file


@dataclass(frozen=True)
class WeightsRecipe:
    """How one model family takes pretrained weights; registered next to its builder."""

    # where model.pretrained=true finds the weights; raises WeightsError when they are not there
    library_file: Optional[LibraryLookup] = None
    resize: Optional[Resizer] = None  # fits position embeddings to the model's image size
    classifier: Optional[str] = None  # state_dict prefix of the final layer; None: model.get_classifier()


# ---------------------------------------------------------------------------- the setting
def resolve(
    setting: Any, recipe: WeightsRecipe, options: Any, image_size: int, model_name: str
) -> Optional[WeightsFile]:
    """The file ``model.pretrained`` asks for, or None for random initialisation.

    Called before the model is built, so that a missing file fails in a second rather than
    after the minute a large model takes to build. OmegaConf turns ``model.pretrained=true``
    into the string "True" (the option is a string), hence the case-insensitive match.
    """
    if setting is None or setting is False:
        return None
    text = str(setting).strip()
    if text.lower() in ("", "false", "none", "null"):
        return None
    if setting is True or text.lower() == "true":
        if recipe.library_file is None:
            raise WeightsError(
                f"model.pretrained=true: no library publishes weights for model {model_name}; "
                "pass a weights file with model.pretrained=PATH"
            )
        return recipe.library_file(options, image_size)
    path = Path(text).expanduser()
    if path.is_dir():  # a downloaded Hugging Face repository folder holds the file under a fixed name
        path = next((path / n for n in HF_WEIGHT_FILES if (path / n).is_file()), path)
    if not path.is_file():
        where = "" if path.is_absolute() else f" (relative to {Path.cwd()})"
        raise WeightsError(f"model.pretrained={text}: no such file{where}")
    return WeightsFile(path.absolute())


# ---------------------------------------------------------------------------- reading files
def read_state_dict(path: Path) -> StateDict:
    """Tensors by parameter name from a PyTorch or safetensors file, unwrapped and unprefixed."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            content: Any = load_file(str(path), device="cpu")
        except Exception as e:  # safetensors raises its own error types for a damaged header
            raise WeightsError(f"cannot read {path} as safetensors: {_first_line(e)}") from None
    else:
        try:
            content = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # pickle signals a bad file with many exception types
            raise WeightsError(_unreadable_torch_file(path, e)) from None
    return _strip_prefixes(_unwrap(content, path))


def _unreadable_torch_file(path: Path, error: Exception) -> str:
    # any object beyond tensors and plain containers reaches the unpickler as a "global" it refuses
    refused = re.search(r"GLOBAL (\S+)", str(error))
    if refused:
        return (
            f"{path} holds Python objects ({refused.group(1)}), not only tensors; it is not unpickled, "
            "since unpickling can run any code. If you trust the file, load it yourself and save just the weights: "
            "torch.save(state_dict, 'weights.pth') or safetensors.torch.save_file(state_dict, 'weights.safetensors')"
        )
    reason = re.search(r"WeightsUnpickler error:\s*(.+)", str(error))
    if reason:
        detail = reason.group(1).strip()
    elif "Weights only load failed" in str(error):
        detail = "refused by torch.load(weights_only=True)"
    else:
        detail = f"{type(error).__name__}: {_first_line(error)}"
    return f"cannot read {path}: not a PyTorch (.pth/.pt/.bin) or safetensors weights file ({detail})"


def _unwrap(content: Any, path: Path) -> Mapping[str, Any]:
    if isinstance(content, Mapping):
        for key in WRAPPER_KEYS:
            if isinstance(content.get(key), Mapping):
                content = content[key]
                break
    if not isinstance(content, Mapping) or not content:
        raise WeightsError(f"{path} holds no state_dict (tensors by parameter name, raw or under "
                           f"{'/'.join(WRAPPER_KEYS)})")
    for key, value in content.items():
        if not isinstance(value, Tensor):
            raise WeightsError(
                f"{path} is not a state_dict: {key!r} holds a {type(value).__name__}, not a tensor "
                f"(looked for the weights raw and under {'/'.join(WRAPPER_KEYS)})"
            )
    return content


def _strip_prefixes(state: Mapping[str, Tensor]) -> StateDict:
    out = {}
    for key, value in state.items():
        while key.startswith(WRAPPER_PREFIXES):
            key = key.split(".", 1)[1]
        out[key] = value
    return out


# ---------------------------------------------------------------------------- fitting and loading
def load_into(model: nn.Module, weights: WeightsFile, recipe: WeightsRecipe, model_name: str) -> str:
    """Load ``weights`` into ``model`` with the three rules above; return what was done, for the log."""
    state = read_state_dict(weights.path)
    expected = model.state_dict()
    notes: list[str] = []

    fresh_head: set[str] = set()
    head = classifier_prefix(model, recipe.classifier)
    if head is not None:
        fresh_head, note = _drop_classifier_if_it_differs(state, expected, head)
        if note:
            notes.append(note)

    if recipe.resize is not None:
        before = {k: tuple(v.shape) for k, v in state.items()}
        try:
            state = recipe.resize(state, model)
        except (ValueError, RuntimeError):
            pass  # an embedding that cannot be resized is named by the check below
        resized = [f"{k} {_shape(before[k])} -> {_shape(v.shape)}" for k, v in state.items()
                   if k in before and tuple(v.shape) != before[k]]
        if resized:
            notes.append("position embeddings resized: " + ", ".join(resized))

    _check_fits(state, expected, fresh_head, weights, model_name)
    # strict in effect: _check_fits let through only the fresh classifier and BatchNorm's batch counters
    model.load_state_dict(state, strict=False)
    if weights.mean is not None and weights.std is not None:
        # the weights expect inputs normalised as in their training; artgenre.models.normalization reads this
        model.pretrained_cfg = {**dict(getattr(model, "pretrained_cfg", None) or {}),
                                "mean": tuple(weights.mean), "std": tuple(weights.std)}
    return weights.describe() + (f" ({'; '.join(notes)})" if notes else "")


def classifier_prefix(model: nn.Module, declared: Optional[str] = None) -> Optional[str]:
    """State_dict prefix of the model's final layer: ``head`` (ViT, iFormer), ``fc`` (ResNet) ..."""
    if declared:
        return declared
    get_classifier = getattr(model, "get_classifier", None)
    if get_classifier is None:
        return None
    layer = get_classifier()
    # timm models report the layer itself; its name is where it sits in the module tree
    return next((name for name, module in model.named_modules() if module is layer and name), None)


def _drop_classifier_if_it_differs(state: StateDict, expected: StateDict, head: str) -> tuple[set[str], Optional[str]]:
    """Remove the file's classifier unless it fits; return the model keys left at their initialisation."""
    model_keys = {k for k in expected if k.startswith(head + ".")}
    file_keys = [k for k in state if k.startswith(head + ".")]
    fits = file_keys and set(file_keys) == model_keys and all(state[k].shape == expected[k].shape for k in file_keys)
    if fits:
        return set(), None
    if not file_keys:
        return model_keys, f"no classifier in the file: {head} randomly initialised"
    theirs = state.get(f"{head}.weight")
    ours = expected.get(f"{head}.weight")
    for k in file_keys:
        del state[k]
    if theirs is not None and ours is not None:
        return model_keys, (f"classifier {head} re-initialised: "
                            f"{theirs.shape[0]} classes in the file, {ours.shape[0]} here")
    return model_keys, f"classifier {head} re-initialised"


def _check_fits(state: StateDict, expected: StateDict, fresh: set[str], weights: WeightsFile, model_name: str) -> None:
    # BatchNorm counts its updates in num_batches_tracked; files saved without it still load
    missing = [k for k in expected if k not in state and k not in fresh and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [k for k in state if k in expected and state[k].shape != expected[k].shape]
    if not (missing or unexpected or wrong_shape):
        return
    problems = []
    if missing:
        problems.append(f"missing from the file: {_first(missing)}")
    if unexpected:
        problems.append(f"not in the model: {_first(unexpected)}")
    if wrong_shape:
        shown = [f"{k} (file {_shape(state[k].shape)}, model {_shape(expected[k].shape)})" for k in wrong_shape]
        problems.append(f"different shapes: {_first(shown)}")
    matching = sum(1 for k in expected if k in state and state[k].shape == expected[k].shape)
    raise WeightsError(
        f"{weights.describe()} does not fit model {model_name} ({matching} of {len(expected)} tensors match): "
        + "; ".join(problems)
        + ". Are these weights for another architecture, or for this one with other options?"
    )


# ---------------------------------------------------------------------------- position embeddings
def resize_vit_pos_embed(state: StateDict, model: nn.Module) -> StateDict:
    """Fit a ViT's ``pos_embed`` (1, prefix + H*W, C) to the model's patch grid, class token kept."""
    source, target = state.get("pos_embed"), getattr(model, "pos_embed", None)
    if source is None or not isinstance(target, Tensor) or source.ndim != 3 or target.ndim != 3:
        return state
    if source.shape == target.shape or source.shape[-1] != target.shape[-1]:
        return state
    # timm's no_embed_class models keep the class token out of the position embedding
    prefix = 0 if getattr(model, "no_embed_class", False) else int(getattr(model, "num_prefix_tokens", 1))
    old_grid = grid_of(source.shape[1], prefix)
    new_grid = _patch_grid(model, target.shape[1] - prefix)
    resized = resize_pos_embed(source.float(), old_grid, new_grid, prefix).to(source.dtype)
    return {**state, "pos_embed": resized}


def _patch_grid(model: nn.Module, num_patches: int) -> tuple[int, int]:
    for owner in (model, getattr(model, "patch_embed", None)):  # ours keeps it on the model, timm on patch_embed
        grid = getattr(owner, "grid_size", None)
        if grid is not None and grid[0] * grid[1] == num_patches:
            return int(grid[0]), int(grid[1])
    return grid_of(num_patches, 0)


# ---------------------------------------------------------------------------- library caches
def hf_hub_cache() -> Path:
    """Where huggingface_hub keeps downloads, read from the environment now rather than at its import."""
    env = os.environ
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(name):
            return Path(env[name]).expanduser()
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"]).expanduser() / "hub"
    return Path(env.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "huggingface" / "hub"


def torch_hub_checkpoints() -> Path:
    """Where torch.hub (torchvision, timm's older weights) keeps downloads: $TORCH_HOME/hub/checkpoints."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def timm_cached_file(arch: str) -> WeightsFile:
    """timm's pretrained weights for ``arch`` (optionally ``arch.tag``), if an earlier download cached them."""
    from huggingface_hub import try_to_load_from_cache
    from timm.models import get_pretrained_cfg

    try:
        cfg = get_pretrained_cfg(arch)
    except RuntimeError as e:  # an unknown tag
        raise WeightsError(f"model.pretrained=true: timm: {_first_line(e)}") from None
    if cfg is None or not (cfg.hf_hub_id or cfg.url):
        raise WeightsError(f"model.pretrained=true: timm publishes no pretrained weights for {arch}; "
                           "pass a weights file with model.pretrained=PATH")
    mean, std = tuple(cfg.mean), tuple(cfg.std)
    expected: dict[str, str] = {}  # the environment variable that moves the cache -> the path looked at
    if cfg.hf_hub_id:
        cache = hf_hub_cache()
        names = [cfg.hf_hub_filename] if cfg.hf_hub_filename else list(HF_WEIGHT_FILES)
        for name in names:
            found = try_to_load_from_cache(cfg.hf_hub_id, name, cache_dir=cache)
            if isinstance(found, str):  # anything else means "not cached"
                return WeightsFile(Path(found), "timm cache (Hugging Face hub)", mean, std)
        repo_dir = cache / f"models--{cfg.hf_hub_id.replace('/', '--')}"
        expected["HF_HOME"] = f"{repo_dir}/snapshots/<revision>/{names[0]}"
    if cfg.url and cfg.url.endswith((".pth", ".pt", ".bin", ".safetensors")):
        # timm versions before its move to the Hugging Face hub cached the same weights here
        legacy = torch_hub_checkpoints() / _url_file_name(cfg.url)
        if legacy.is_file():
            return WeightsFile(legacy, "timm cache (torch hub)", mean, std)
        expected["TORCH_HOME"] = str(legacy)
    if not expected:
        raise WeightsError(f"model.pretrained=true: timm's weights for {arch} come in a format "
                           "artgenre does not read; pass a .pth or .safetensors file with model.pretrained=PATH")
    raise WeightsError(_not_cached(
        f"timm's weights for {arch}", list(expected.values()),
        f"python -c \"import timm; timm.create_model('{arch}', pretrained=True)\"", " and ".join(expected),
    ))


def torchvision_cached_file(builder: str) -> WeightsFile:
    """torchvision's weights for ``builder`` (e.g. "resnet50"): its DEFAULT version, else any other it cached."""
    from torchvision.models import get_model_weights

    versions = get_model_weights(builder)
    checkpoints = torch_hub_checkpoints()
    for weights in [versions.DEFAULT, *(w for w in versions if w is not versions.DEFAULT)]:
        path = checkpoints / _url_file_name(weights.url)
        if path.is_file():
            return WeightsFile(path, f"torchvision cache ({weights})")
    raise WeightsError(_not_cached(
        f"torchvision's {versions.DEFAULT} weights", [str(checkpoints / _url_file_name(versions.DEFAULT.url))],
        f"python -c \"from torchvision.models import {builder}; {builder}(weights='DEFAULT')\"", "TORCH_HOME",
    ))


def _not_cached(what: str, expected: list[str], command: str, env: str) -> str:
    return (
        f"model.pretrained=true: {what} are not in the cache, and artgenre does not download. "
        f"Expected {' or '.join(expected)}. Download them once on a machine with internet "
        f"(e.g. a login node), with the same {env} as this job: {command} "
        "- or pass a weights file with model.pretrained=PATH"
    )


# ---------------------------------------------------------------------------- small helpers
def _first(items: list[str]) -> str:
    more = len(items) - SHOWN_KEYS
    return ", ".join(items[:SHOWN_KEYS]) + (f" and {more} more" if more > 0 else "")


def _url_file_name(url: str) -> str:
    return os.path.basename(urlparse(url).path)


def _shape(shape: Any) -> str:
    return "x".join(str(int(s)) for s in shape)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
