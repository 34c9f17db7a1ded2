"""The configuration schema: the one source of every default, choice list and range check.

The dataclasses below hold each section's options and defaults; each model family's options
live with its builder in the model registry. :func:`register_configs` puts both into Hydra's
ConfigStore (``schema`` and the ``model`` group), so the YAML files under ``conf/`` hold
presets only: what a data set, optimizer, schedule or experiment changes. Hydra composes;
:func:`validate` then merges each section into its schema so that a misspelt key
(``trainer.epoch=3``), a wrong type (``trainer.epochs=ten``), a value outside the choices
(derived from the registries that implement them) or outside its range stops the run
before anything is built, with a message that names the key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from artgenre.errors import ConfigError


@dataclass
class DataConfig:
    name: str = "best_artworks"  # data set kind: best_artworks | synthetic | folder (one sub-folder per class)
    root: Optional[str] = None  # unpacked Kaggle archive or its .zip (or where the synthetic set is cached)
    image_size: int = 384
    val_fraction: float = 0.15
    folds: Optional[int] = None  # K-fold cross-validation: K stratified folds (null: one holdout of val_fraction)
    fold: int = 0  # with folds: the fold validated on (0 .. folds-1); the others train
    group_by: Optional[str] = None  # artist: each artist's paintings on one side of every split (with label=genre)
    # None: the data set's default (the study's ten; every class for `folder`); "all"; or a list of names
    artists: Any = None
    normalize: bool = True  # False reproduces the study (no normalisation)
    augment: str = "none"  # none (squash, the study) | basic (random resized crop + flip) | strong (+ RandAugment) | deit
    source: str = "images"  # images: images/images/<Artist>/ | resized: the archive's flat resized/resized/ copy
    label: str = "artist"  # artist | genre (artists sharing their first-listed genre share a class) | style (wikiart, parquet)
    min_images: int = 2  # classes with fewer usable images: left out (artists=all) or refused (a chosen artist)
    test_fraction: float = 0.0  # per class, held out of training and validation
    random_erasing: float = 0.0  # per training image, the chance of a random rectangle of noise (DeiT: 0.25)
    max_pixels: int = 200_000_000  # larger images are excluded; Pillow's own limit (89.5 MP) is not used
    cache_dir: Optional[str] = None  # manifest + pixel cache; None: <root>/.artgenre, or per-user if read-only
    cache: bool = False  # pre-resized pixel cache: every image decoded once, not once per epoch
    cache_format: str = "auto"  # files (one .npy per image) | packed (a few large shards) | auto (packed from 10,000)
    splits: Optional[str] = None  # data=wikiart: folder of ArtGAN's split files; None: found under root
    # synthetic set only
    synthetic_scale: float = 0.25  # fraction of the real class sizes
    synthetic_seed: int = 0
    synthetic_artists_per_genre: int = 1  # more than 1: extra artists painting in each study artist's genre


@dataclass
class OptimConfig:
    name: str = "adamw"  # adamw | sgd
    lr: float = 8e-4
    weight_decay: float = 0.01
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    momentum: float = 0.9
    nesterov: bool = False
    # False: biases, norm scales, class tokens and position embeddings are not decayed (the usual practice);
    # True: weight decay on every parameter, as the study's code did (AdamW(model.parameters()))
    decay_all: bool = False
    layer_decay: Optional[float] = None  # layer-wise lr decay: block i of n trains at lr * layer_decay**(n - i)


@dataclass
class SchedConfig:
    name: str = "constant"  # constant | cosine
    warmup_epochs: float = 0.0
    min_lr: float = 0.0
    interval: str = "step"  # step | epoch: when the learning rate changes


@dataclass
class MixConfig:  # batch-level mixing (training/mixing.py); off while both alphas are 0
    mixup_alpha: float = 0.0  # lambda ~ Beta(alpha, alpha) for mixup (DeiT: 0.8)
    cutmix_alpha: float = 0.0  # the same for CutMix (DeiT: 1.0)
    prob: float = 1.0  # the chance that a batch is mixed at all
    switch_prob: float = 0.5  # with both on, the chance of CutMix rather than mixup


@dataclass
class EmaConfig:  # exponential moving average of the weights (training/ema.py)
    enabled: bool = False
    decay: float = 0.9998
    warmup: bool = True  # decay = min(decay, 1 - (1 + step / warmup_gamma) ** -warmup_power)
    warmup_gamma: float = 1.0
    warmup_power: float = 0.75
    select: str = "ema"  # ema | raw: the weights best.pt is chosen by and eval/predict use by default


@dataclass
class DistillConfig:  # knowledge distillation from a trained artgenre checkpoint (training/distill.py)
    teacher: Optional[str] = None  # PATH to the teacher's checkpoint; null: no distillation
    kind: str = "soft"  # soft (KL at a temperature) | hard (the teacher's top class as label)
    alpha: float = 0.5  # loss = (1 - alpha) * label loss + alpha * distillation loss
    temperature: float = 3.0


@dataclass
class EarlyStoppingConfig:  # training/early_stopping.py
    patience: int = 0  # stop after this many epochs without a better validation accuracy; 0: never
    min_delta: float = 0.0  # percentage points an epoch must gain to count as better


@dataclass
class TrainerConfig:
    epochs: int = 50
    batch_size: int = 32  # per process
    num_workers: int = 4
    seed: int = 9
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "auto"  # auto (bf16 on GPUs that have it, else 32) | 32 | bf16 | 16 (see artgenre.runtime.precision)
    channels_last: Optional[bool] = None  # NHWC layout for model and input; null: on CUDA only (no faster on CPUs)
    compile: bool = False  # torch.compile the training step; a failure to compile falls back with a warning
    compile_mode: Optional[str] = None  # torch.compile mode: null (default) | reduce-overhead | max-autotune | ...
    compile_backend: str = "inductor"  # torch.compile backend (aot_eager / eager to debug the compiler)
    accum_steps: int = 1  # micro-batches per optimizer step (gradient accumulation; exact)
    log_every: int = 50  # steps between reads of the loss for the progress bar and TensorBoard (each one syncs)
    sync_bn: bool = False  # several processes: BatchNorm statistics over the global batch (SyncBatchNorm)
    label_smoothing: float = 0.0
    class_balance: str = "none"  # none | loss (class-weighted cross-entropy) | sampler (classes drawn evenly)
    grad_clip: Optional[float] = None
    resume: Optional[str] = "auto"  # auto | PATH to a checkpoint | null (start afresh)
    progress: bool = True  # tqdm bar per epoch on rank 0
    deterministic: bool = False
    stop_check_every: int = 10  # steps between the ranks' agreement to stop on SIGUSR1/SIGTERM
    tensorboard: bool = False  # deprecated: logger=[csv,tensorboard] (kept working: adds the tensorboard logger)
    mix: MixConfig = field(default_factory=MixConfig)
    ema: EmaConfig = field(default_factory=EmaConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)


@dataclass
class CSVLoggerConfig:
    """metrics.csv and val_acc_per_class.csv: always on (resume and artgenre-report read them)."""


@dataclass
class TensorBoardLoggerConfig:
    """Scalars per epoch and per step under <run dir>/tensorboard (needs artgenre[tb])."""


@dataclass
class MLflowLoggerConfig:
    # null: sqlite:///<outputs>/mlflow.db (<outputs>: $ARTGENRE_OUTPUTS, else ./outputs); or http://host:5000, ...
    tracking_uri: Optional[str] = None
    experiment: str = "artgenre"
    run_name: Optional[str] = None  # null: the run directory's name
    log_checkpoints: bool = False  # best.pt and last.pt as artifacts when the run finishes
    http_timeout_s: int = 10  # per request to a tracking server; a failing server is given up after one warning
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class WandbLoggerConfig:
    mode: str = "offline"  # offline (compute nodes have no network; `wandb sync <run dir>/wandb/offline-run-*`) | online | disabled
    project: str = "artgenre"
    entity: Optional[str] = None
    run_name: Optional[str] = None  # null: the run directory's name
    group: Optional[str] = None
    tags: list[str] = field(default_factory=list)
    log_checkpoints: bool = False  # best.pt as a model artifact when the run finishes
    init_timeout_s: int = 60  # online: how long to wait for the service before training goes on without it


@dataclass
class LoggerConfig:
    """``logger=[csv,tensorboard,mlflow,wandb]`` (a list; or one name): each chosen logger's options.
    A logger left out is null; csv is always on."""

    csv: Optional[CSVLoggerConfig] = None
    tensorboard: Optional[TensorBoardLoggerConfig] = None
    mlflow: Optional[MLflowLoggerConfig] = None
    wandb: Optional[WandbLoggerConfig] = None


LOGGER_SCHEMAS: dict[str, type] = {
    "csv": CSVLoggerConfig,
    "tensorboard": TensorBoardLoggerConfig,
    "mlflow": MLflowLoggerConfig,
    "wandb": WandbLoggerConfig,
}
WANDB_MODES = ("offline", "online", "disabled")

SECTION_SCHEMAS: dict[str, type] = {
    "data": DataConfig,
    "optim": OptimConfig,
    "sched": SchedConfig,
    "trainer": TrainerConfig,
    "logger": LoggerConfig,
}

COMPILE_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
SCHED_INTERVALS = ("step", "epoch")
MAX_IMAGE_SIZE = 4096  # pixels per side; 384 is the study's (a 100000-pixel side would need 30 GB per image)
EMA_SELECT = ("ema", "raw")


def choices() -> dict[str, tuple[Any, ...]]:
    """The allowed values of each choice key, read from the registries that implement them."""
    from artgenre.data.layouts import DATASETS
    from artgenre.data.layouts.artworks import LAYOUTS as SOURCES
    from artgenre.data.loading.balance import CLASS_BALANCE
    from artgenre.data.loading.transforms import AUGMENTATIONS
    from artgenre.data.prepare.classes import LABELINGS
    from artgenre.data.prepare.groups import GROUPINGS
    from artgenre.data.prepare.pixels import CACHE_FORMATS
    from artgenre.runtime.device import DEVICE_CHOICES
    from artgenre.runtime.precision import CHOICES as PRECISION_CHOICES
    from artgenre.training.distill import DISTILL_KINDS
    from artgenre.training.optim import OPTIMIZERS, SHAPES

    return {
        "data.name": tuple(DATASETS),
        "data.augment": tuple(AUGMENTATIONS),
        "data.source": tuple(SOURCES),
        "data.label": tuple(LABELINGS),
        "data.cache_format": CACHE_FORMATS,
        "data.group_by": (None, *GROUPINGS),
        "optim.name": tuple(OPTIMIZERS),
        "sched.name": tuple(SHAPES),
        "sched.interval": SCHED_INTERVALS,
        "trainer.device": DEVICE_CHOICES,
        "trainer.precision": PRECISION_CHOICES,
        "trainer.compile_mode": COMPILE_MODES,
        "trainer.class_balance": tuple(CLASS_BALANCE),
        "trainer.ema.select": EMA_SELECT,
        "trainer.distill.kind": tuple(DISTILL_KINDS),
    }


def register_configs() -> None:
    """Every default into Hydra's ConfigStore: ``schema`` (the sections above) and one ``model``
    group entry per registered model. Plain dicts, not the dataclasses: composing stays untyped,
    so a bad value reaches :func:`validate` and its message naming the key."""
    from artgenre.models import available_models, model_schema

    cs = ConfigStore.instance()
    cs.store(name="schema", node={k: dataclasses.asdict(s()) for k, s in SECTION_SCHEMAS.items() if k != "logger"})
    for name, schema in LOGGER_SCHEMAS.items():  # logger=[csv,mlflow]: each chosen one fills logger.<name>
        cs.store(group="logger", name=name, node={name: dataclasses.asdict(schema())})
    for name in available_models():
        cs.store(group="model", name=name, node={"name": name, **dataclasses.asdict(model_schema(name))})


TOP_LEVEL_KEYS = {"model", *SECTION_SCHEMAS}


def _merge(schema: type, section: Any, prefix: str) -> DictConfig:
    try:
        return OmegaConf.merge(OmegaConf.structured(schema), section)
    except OmegaConfBaseException as e:
        key = f"{prefix}.{e.full_key}" if getattr(e, "full_key", None) else prefix
        reason = str(e).splitlines()[0]
        raise ConfigError(f"bad config value at '{key}': {reason}") from None


def validate(cfg: DictConfig) -> DictConfig:
    """Return ``cfg`` checked and typed against the schema, or raise ConfigError."""
    from artgenre.models import model_schema  # the registry knows each model's options

    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    unknown = set(cfg.keys()) - TOP_LEVEL_KEYS
    if unknown:
        raise ConfigError(f"unknown top-level config key(s): {', '.join(sorted(unknown))}")
    checked = {name: _merge(schema, cfg.get(name) or {}, name) for name, schema in SECTION_SCHEMAS.items()}

    if "model" not in cfg or "name" not in cfg.model:
        raise ConfigError("no model chosen: add model=<name> (e.g. model=resnet50)")
    model_name = cfg.model.name
    try:
        schema = model_schema(model_name)
    except KeyError as e:
        raise ConfigError(str(e.args[0])) from None
    options = OmegaConf.to_container(cfg.model)
    options.pop("name")
    checked["model"] = _merge(schema, options, "model")
    checked["model"] = OmegaConf.merge({"name": model_name}, checked["model"])

    out = OmegaConf.create({k: checked[k] for k in ("model", *SECTION_SCHEMAS)})
    for key, allowed in choices().items():
        value = OmegaConf.select(out, key)
        if value not in allowed:
            raise ConfigError(f"'{key}' is {value!r}; choose one of: {', '.join(str(a) for a in allowed)}")
    _check_ranges(out)
    _enable_loggers(out)
    OmegaConf.set_struct(out, True)
    return out


def recipe_rules(cfg: DictConfig) -> list[tuple[str, bool, str]]:
    """Ranges of the small-data recipes' keys (mixing, erasing, EMA, distillation, layer decay, early stopping)."""
    t = cfg.trainer
    return [
        ("data.random_erasing", 0.0 <= cfg.data.random_erasing <= 1.0, "must be between 0 and 1"),
        ("optim.layer_decay", cfg.optim.layer_decay is None or 0.0 < cfg.optim.layer_decay <= 1.0,
         "must be in (0, 1] (or null: no layer-wise decay)"),
        ("trainer.mix.mixup_alpha", t.mix.mixup_alpha >= 0, "must be 0 (off) or more"),
        ("trainer.mix.cutmix_alpha", t.mix.cutmix_alpha >= 0, "must be 0 (off) or more"),
        ("trainer.mix.prob", 0.0 <= t.mix.prob <= 1.0, "must be between 0 and 1"),
        ("trainer.mix.switch_prob", 0.0 <= t.mix.switch_prob <= 1.0, "must be between 0 and 1"),
        ("trainer.ema.decay", 0.0 <= t.ema.decay < 1.0, "must be in [0, 1)"),
        ("trainer.ema.warmup_gamma", t.ema.warmup_gamma > 0, "must be positive"),
        ("trainer.ema.warmup_power", t.ema.warmup_power > 0, "must be positive"),
        ("trainer.distill.teacher", t.distill.teacher != "REQUIRED",
         "is required (experiment=distill): pass trainer.distill.teacher=PATH to a trained artgenre checkpoint"),
        ("trainer.distill.alpha", 0.0 <= t.distill.alpha <= 1.0, "must be between 0 and 1"),
        ("trainer.distill.temperature", t.distill.temperature > 0, "must be positive"),
        ("trainer.early_stopping.patience", t.early_stopping.patience >= 0, "must be 0 (off) or more"),
        ("trainer.early_stopping.min_delta", t.early_stopping.min_delta >= 0, "must be 0 or more"),
    ]


def _enable_loggers(cfg: DictConfig) -> None:
    """csv is always on; the deprecated trainer.tensorboard=true adds the tensorboard logger."""
    from artgenre.loggers import LOGGERS

    if set(LOGGERS) != set(LOGGER_SCHEMAS):  # a logger without options (or options without a logger)
        raise RuntimeError(f"loggers {sorted(LOGGERS)} and their schemas {sorted(LOGGER_SCHEMAS)} differ")
    if cfg.logger.csv is None:
        cfg.logger.csv = CSVLoggerConfig()
    if cfg.trainer.tensorboard and cfg.logger.tensorboard is None:
        cfg.logger.tensorboard = TensorBoardLoggerConfig()
    if cfg.logger.wandb is not None and cfg.logger.wandb.mode not in WANDB_MODES:
        raise ConfigError(f"'logger.wandb.mode' is {cfg.logger.wandb.mode!r}; choose one of: {', '.join(WANDB_MODES)}")


def _check_ranges(cfg: DictConfig) -> None:
    rules = [
        ("trainer.epochs", cfg.trainer.epochs >= 1, "must be at least 1"),
        ("trainer.batch_size", cfg.trainer.batch_size >= 1, "must be at least 1"),
        ("trainer.num_workers", cfg.trainer.num_workers >= 0, "must be 0 or more"),
        ("trainer.stop_check_every", cfg.trainer.stop_check_every >= 1, "must be at least 1"),
        ("trainer.accum_steps", cfg.trainer.accum_steps >= 1, "must be at least 1"),
        ("trainer.log_every", cfg.trainer.log_every >= 1, "must be at least 1"),
        ("trainer.grad_clip", cfg.trainer.grad_clip is None or cfg.trainer.grad_clip > 0,
         "must be positive (or null: no clipping)"),
        ("data.image_size", 8 <= cfg.data.image_size <= MAX_IMAGE_SIZE, f"must be between 8 and {MAX_IMAGE_SIZE}"),
        ("trainer.label_smoothing", 0.0 <= cfg.trainer.label_smoothing < 1.0, "must be in [0, 1)"),
        ("optim.betas", all(0.0 <= b < 1.0 for b in cfg.optim.betas), "must both be in [0, 1), e.g. [0.9,0.999]"),
        ("optim.eps", cfg.optim.eps > 0, "must be positive"),
        ("optim.weight_decay", cfg.optim.weight_decay >= 0, "must be 0 or more"),
        ("optim.momentum", 0.0 <= cfg.optim.momentum < 1.0, "must be in [0, 1)"),
        ("sched.min_lr", cfg.sched.min_lr >= 0, "must be 0 or more"),
        ("data.synthetic_scale", cfg.data.synthetic_scale > 0, "must be positive"),
        ("data.val_fraction", 0.0 < cfg.data.val_fraction < 1.0, "must be between 0 and 1"),
        ("data.test_fraction", 0.0 <= cfg.data.test_fraction < 1.0 and cfg.data.val_fraction + cfg.data.test_fraction < 1.0,
         "needs 0 <= test_fraction and val_fraction + test_fraction < 1"),
        ("data.folds", cfg.data.folds is None or cfg.data.folds >= 2, "must be 2 or more (or null: one holdout split)"),
        ("data.fold", 0 <= cfg.data.fold < (cfg.data.folds or 1),
         "must be 0 .. data.folds-1" if cfg.data.folds else "needs data.folds=K (K-fold cross-validation)"),
        ("data.test_fraction", cfg.data.test_fraction == 0 or (cfg.data.folds is None and cfg.data.group_by is None),
         "must be 0 with data.folds or data.group_by (no test split there)"),
        ("data.group_by", cfg.data.group_by is None or cfg.data.label == "genre",
         "needs data.label=genre (grouping by artist with one class per artist leaves classes unseen in training)"),
        ("data.synthetic_artists_per_genre", cfg.data.synthetic_artists_per_genre >= 1, "must be at least 1"),
        ("data.min_images", cfg.data.min_images >= 2, "must be at least 2 (one train, one val image)"),
        ("data.max_pixels", cfg.data.max_pixels >= 1, "must be positive"),
        ("optim.lr", cfg.optim.lr > 0, "must be positive"),
        ("optim.betas", len(cfg.optim.betas) == 2, "needs two values, e.g. [0.9,0.999]"),
        ("sched.warmup_epochs", cfg.sched.warmup_epochs >= 0, "must be 0 or more"),
        *recipe_rules(cfg),
    ]
    for key, ok, why in rules:
        if not ok:
            raise ConfigError(f"'{key}' = {OmegaConf.select(cfg, key)} {why}")


register_configs()  # on import, before any Hydra composition (as Hydra's own examples do)
