"""Config composition, the typed schema, and the messages a bad override gets."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from artgenre.config import SECTION_SCHEMAS, validate
from artgenre.errors import ConfigError
from artgenre.models import available_models, model_schema

CONF = Path(__file__).resolve().parents[1] / "src" / "artgenre" / "conf"


def composed(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def test_defaults_are_the_study_recipe() -> None:
    cfg = validate(composed())
    assert cfg.model.name == "resnet50" and cfg.data.name == "best_artworks"
    assert cfg.optim.name == "adamw" and cfg.optim.lr == 8e-4 and cfg.optim.weight_decay == 0.01
    assert list(cfg.optim.betas) == [0.9, 0.999] and cfg.optim.eps == 1e-8
    assert (cfg.trainer.epochs, cfg.trainer.batch_size, cfg.trainer.num_workers, cfg.trainer.seed) == (50, 32, 4, 9)
    assert cfg.data.image_size == 384 and cfg.data.val_fraction == 0.15


@pytest.mark.parametrize("model", available_models())  # the model group comes from the registry
def test_every_model_config_composes_and_matches_its_schema(model: str) -> None:
    cfg = composed(f"model={model}")
    yaml_keys = set(cfg.model) - {"name"}
    schema_keys = {f.name for f in dataclasses.fields(model_schema(cfg.model.name))}
    assert yaml_keys == schema_keys, "the composed config must list every option so the command line can override it"
    validate(cfg)


@pytest.mark.parametrize("group", ["data", "optim", "sched", "trainer"])
def test_section_yaml_keys_exist_in_the_schema(group: str) -> None:
    fields = {f.name for f in dataclasses.fields(SECTION_SCHEMAS[group])}
    for option in (CONF / group).glob("*.yaml"):
        keys = set(OmegaConf.load(option))
        assert keys <= fields, f"{option.name}: {keys - fields} not in the schema"


def test_every_registered_model_has_a_config() -> None:
    configs = {name for name in available_models() if composed(f"model={name}").model.name == name}
    assert set(available_models()) <= configs


def test_interface_contract_keys_are_overridable() -> None:
    cfg = validate(composed(
        "data.root=/x", "data.image_size=224", "data.val_fraction=0.2", "trainer.epochs=3",
        "trainer.batch_size=8", "trainer.num_workers=0", "trainer.seed=1", "optim.lr=3e-4",
        "optim.weight_decay=0.05", "optim.betas=[0.8,0.99]", "sched=cosine",
    ))
    assert cfg.data.image_size == 224 and cfg.trainer.epochs == 3 and list(cfg.optim.betas) == [0.8, 0.99]
    assert cfg.sched.name == "cosine" and cfg.sched.warmup_epochs == 1.0
    sgd = validate(composed("optim=sgd", "optim.momentum=0.8"))
    assert sgd.optim.name == "sgd" and sgd.optim.momentum == 0.8


def test_unknown_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"trainer\.epochz"):
        validate(composed("+trainer.epochz=3"))


def test_unknown_model_option_is_named() -> None:
    with pytest.raises(ConfigError, match=r"model\.embed_dim"):
        validate(composed("model=resnet50", "+model.embed_dim=3"))


def test_wrong_type_is_named() -> None:
    with pytest.raises(ConfigError, match=r"trainer\.epochs.*'ten'"):
        validate(composed("trainer.epochs=ten"))


def test_bad_choice_lists_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"optim\.name.*adamw, sgd"):
        validate(composed("optim.name=adam"))


def test_out_of_range_value_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"data\.val_fraction"):
        validate(composed("data.val_fraction=1.5"))


def test_experiment_demo_overrides_groups() -> None:
    cfg = validate(composed("experiment=demo"))
    assert cfg.data.name == "synthetic" and cfg.model.name == "vit_scratch" and cfg.sched.name == "cosine"
    assert cfg.data.image_size == 64 and cfg.model.depth == 4


def test_study_vit_preset_has_six_blocks_and_heads() -> None:
    cfg = validate(composed("model=vit_scratch_study"))
    assert (cfg.model.depth, cfg.model.num_heads, cfg.model.embed_dim) == (6, 6, 768)
