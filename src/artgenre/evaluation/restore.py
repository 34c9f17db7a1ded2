"""A checkpoint back into what produced it: the run's config, its network, its inputs and its images.

Evaluation and prediction rebuild everything the way training built it (the same model
builder, the same manifest and split, the same input normalisation), so their numbers
cannot drift from what the training measured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from torch import nn
from torch.utils.data import Dataset

from artgenre.config import validate
from artgenre.data.listing import ImageSet
from artgenre.data.loading.pipeline import DeviceInput
from artgenre.errors import CheckpointError, ConfigError, DataError
from artgenre.models import build_model, normalization
from artgenre.rundir.split import read_split_csv
from artgenre.training.divergence import describe_names, non_finite_weights
from artgenre.training.data import index_data, open_datasets
from artgenre.training.setup import model_options


def run_dir_of(checkpoint_path: Path) -> Path:
    """The run folder: checkpoints live in <run dir>/checkpoints/."""
    parent = checkpoint_path.resolve().parent
    return parent.parent if parent.name == "checkpoints" else parent


def training_config(state: dict[str, Any], data_root: Optional[str] = None,
                    cache_dir: Optional[str] = None) -> DictConfig:
    """The run's resolved config, checked like a command line; only where the data lie may differ.

    The data cache (manifest, pixel cache) is the one a command line naming the same data would
    use: ``cache_dir`` if given, else the default for ``data.root``. A cache folder recorded in the
    checkpoint is not trusted, since evaluation writes there (a crafted file could name any folder).
    """
    try:
        cfg = validate(OmegaConf.create(state["config"]))
    except (ConfigError, OmegaConfBaseException, TypeError, ValueError) as e:
        raise CheckpointError(f"the config stored in the checkpoint is not valid: {e}; "
                              "use a checkpoint written by artgenre-train") from None
    if data_root:
        cfg.data.root = str(Path(data_root).expanduser())
    cfg.data.cache_dir = str(Path(cache_dir).expanduser()) if cache_dir else None
    return cfg


WEIGHTS = ("auto", "raw", "ema")  # which weights of a checkpoint a model is built with


def chosen_weights(state: dict[str, Any], cfg: DictConfig, weights: str = "auto") -> str:
    """raw or ema. auto: the averaged weights where the run kept them and chose them
    (trainer.ema.select=ema, the default with trainer.ema.enabled=true), else the raw ones."""
    if weights not in WEIGHTS:
        raise ConfigError(f"weights={weights} is not one of: {', '.join(WEIGHTS)}")
    has_ema = state.get("ema") is not None
    if weights == "auto":
        return "ema" if has_ema and OmegaConf.select(cfg, "trainer.ema.select", default="raw") == "ema" else "raw"
    if weights == "ema" and not has_ema:
        raise CheckpointError("weights=ema: this checkpoint holds no averaged weights (its run had "
                              "trainer.ema.enabled=false); use weights=raw")
    return weights


def model_from_checkpoint(state: dict[str, Any], cfg: DictConfig, device: torch.device,
                          weights: str = "auto") -> nn.Module:
    """The trained network, built exactly as the training built it, in eval mode on ``device``,
    with the checkpoint's raw or averaged weights (:func:`chosen_weights`)."""
    classes = state["classes"]
    which = chosen_weights(state, cfg, weights)
    bad = non_finite_weights(state["ema" if which == "ema" else "model"])
    if bad:
        raise CheckpointError(f"the checkpoint's weights hold NaN or infinite values ({describe_names(bad)}): "
                              "the training diverged; use an earlier checkpoint or retrain with a lower optim.lr")
    try:
        model = build_model(cfg.model.name, len(classes), cfg.data.image_size, **model_options(cfg))
        model.load_state_dict(state["ema" if which == "ema" else "model"])
    except (KeyError, TypeError, RuntimeError) as e:
        # a model registered under that name may have changed shape since the checkpoint was written
        raise CheckpointError(f"cannot rebuild model {cfg.model.name!r} from the checkpoint: "
                              f"{str(e).splitlines()[0]}") from None
    return model.to(device).eval()


def input_for(model: nn.Module, cfg: DictConfig, device: torch.device) -> DeviceInput:
    """uint8 images -> the normalised float batch the model was trained on, made as training makes it."""
    mean, std = normalization(model)
    return DeviceInput(device, mean, std, cfg.data.normalize)


def select_images(cfg: DictConfig, which: str, run_dir: Path) -> tuple[ImageSet, list[int]]:
    """The data set and the manifest rows of split ``which``, as the training run saw them.

    The manifest is the training's own (trainer.index_data: same function, same seed), made
    afresh where the data has moved; where the run's split.csv exists it must agree, so a
    data folder that changed since training is caught rather than silently evaluated.
    """
    image_set, split = index_data(cfg)
    check_split_matches(run_dir / "split.csv", image_set.records, split)
    rows = list(range(len(split))) if which == "all" else [i for i, s in enumerate(split) if s == which]
    if not rows:
        if which == "test":
            raise ConfigError("split=test: this run has no test images (it was trained with data.test_fraction=0); "
                              "use split=val or split=all")
        raise DataError(f"split={which} holds no images under {image_set.root}")
    return image_set, rows


def check_split_matches(split_csv: Path, records: Sequence[Any], split: list[str]) -> None:
    if not split_csv.is_file():
        return
    recorded = [(row["path"], row["split"]) for row in read_split_csv(split_csv)]
    now = [(r.path, s) for r, s in zip(records, split)]
    if recorded != now:
        differ = len(set(recorded) ^ set(now))
        raise DataError(
            f"the images under data.root are not the ones this checkpoint was trained and validated on "
            f"({differ} path/split entries differ from {split_csv}); point data.root to the run's data"
        )


def eval_dataset(cfg: DictConfig, image_set: ImageSet, rows: list[int]) -> Dataset:
    """The images at manifest ``rows``, built by the training's own data pipeline as its
    validation set (same decoding, pixel cache, geometry), so the numbers match the training's."""
    chosen = set(rows)
    as_val = ["val" if i in chosen else "unused" for i in range(len(image_set.records))]
    _, dataset = open_datasets(cfg.data, image_set, as_val, cfg.trainer.num_workers, progress=False)
    return dataset


def recorded_val_acc(state: dict[str, Any], which: str = "raw") -> Optional[float]:
    """The val accuracy the training logged for the checkpoint's epoch and weights (``raw`` or ``ema``):
    what split=val must reproduce."""
    rows = [r for r in state.get("history", []) if r.get("epoch") == state.get("epoch")]
    key = "val_acc_ema" if which == "ema" else "val_acc"
    return float(rows[-1][key]) if rows and rows[-1].get(key) not in (None, "") else None
