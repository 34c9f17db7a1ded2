"""Stochastic depth: one option, ``model.drop_path``, for every model family."""

from __future__ import annotations

import copy
import io
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from torch import nn

from artgenre.config import validate
from artgenre.errors import ConfigError
from artgenre.models import available_models, build_model, model_schema
from artgenre.models.layers import DropPath

CONF = Path(__file__).resolve().parents[1] / "src" / "artgenre" / "conf"

# (config name, options, image size, the last residual block's drop rate): every family as small as it can be
FAMILIES = [
    ("vit_scratch", dict(embed_dim=32, depth=2, num_heads=2, patch_size=8), 32, lambda m: m.blocks[-1].drop_path.p),
    ("vit_scratch_study", dict(embed_dim=32, depth=3, num_heads=2, patch_size=8), 32,
     lambda m: m.blocks[-1].drop_path.p),
    ("vit_timm", {}, 32, lambda m: m.blocks[-1].drop_path1.drop_prob),
    ("timm", dict(arch="resnet18"), 32, lambda m: m.layer4[-1].drop_path.drop_prob),
    ("resnet50", {}, 32, lambda m: m.layer4[-1].drop_path.p),
    ("iformer_small", {}, 64, lambda m: m.blocks4[-1].drop_path.p),
]
FAMILY_IDS = [f[0] for f in FAMILIES]


def composed(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def twin_models(name: str, options: dict, size: int, rate: float) -> tuple[nn.Module, nn.Module]:
    """The family built with drop_path=0 and with drop_path=rate, holding the same weights."""
    plain = build_model(name, num_classes=5, image_size=size, drop_path=0.0, **options)
    for m in plain.modules():  # timm zero-initialises each block's last norm: its branch would add nothing
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.ones_(m.weight)
    dropped = build_model(name, num_classes=5, image_size=size, drop_path=rate, **options)
    dropped.load_state_dict(plain.state_dict(), strict=True)  # drop path adds no parameters or buffers
    return plain, dropped


@pytest.mark.parametrize("name,options,size,last_rate", FAMILIES, ids=FAMILY_IDS)
def test_drop_path_is_stochastic_in_training_and_identity_in_eval(
    name: str, options: dict, size: int, last_rate
) -> None:
    torch.manual_seed(0)
    plain, dropped = twin_models(name, options, size, rate=0.5)
    assert last_rate(dropped) == pytest.approx(0.5)  # the option is the rate of the deepest block
    x = torch.randn(4, 3, size, size)

    # eval first: training-mode batch norm would move the running statistics
    plain.eval()
    dropped.eval()
    with torch.no_grad():
        reference = plain(x)
        torch.testing.assert_close(dropped(x), reference, rtol=0, atol=0)
        torch.testing.assert_close(dropped(x), reference, rtol=0, atol=0)

    plain.train()
    dropped.train()
    with torch.no_grad():
        first, second = plain(x), plain(x)
        torch.testing.assert_close(first, second, rtol=0, atol=0)  # drop_path=0: deterministic
        has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in plain.modules())
        if not has_bn:  # nothing else differs between the modes (ViTs: no dropout, no batch statistics)
            torch.testing.assert_close(first, reference, rtol=0, atol=0)
        a, b = dropped(x), dropped(x)
    assert a.shape == b.shape == (4, 5)
    assert not torch.equal(a, b), "drop_path=0.5 in training: two passes must drop different branches"
    assert not torch.equal(a, first) and not torch.equal(b, first)


def test_resnet50_state_dict_keys_unchanged_and_weights_load_strictly() -> None:
    plain = build_model("resnet50", num_classes=5, image_size=32)
    dropped = build_model("resnet50", num_classes=5, image_size=32, drop_path=0.3)
    assert list(dropped.state_dict()) == list(plain.state_dict())
    plain.load_state_dict(dropped.state_dict(), strict=True)
    dropped.load_state_dict(plain.state_dict(), strict=True)


def test_resnet50_rates_rise_linearly_over_the_16_bottlenecks() -> None:
    from torchvision.models.resnet import Bottleneck

    model = build_model("resnet50", num_classes=5, image_size=32, drop_path=0.3)
    blocks = [m for m in model.modules() if isinstance(m, Bottleneck)]
    assert len(blocks) == 16
    assert not hasattr(blocks[0], "drop_path")  # rate 0: nothing attached
    assert not blocks[0].bn3._forward_hooks
    for i, block in enumerate(blocks[1:], start=1):
        assert isinstance(block.drop_path, DropPath)
        assert block.drop_path.p == pytest.approx(0.3 * i / 15)
        assert len(block.bn3._forward_hooks) == 1  # on the residual branch's last layer
    assert blocks[-1].drop_path.p == pytest.approx(0.3)


def test_resnet50_drop_path_zero_adds_nothing() -> None:
    model = build_model("resnet50", num_classes=5, image_size=32)
    assert not any(isinstance(m, DropPath) for m in model.modules())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_resnet50_drop_path_only_touches_the_residual_branch() -> None:
    # in eval the hook is the identity: the blocks' outputs equal those of torchvision's resnet50
    from torchvision.models import resnet50

    torch.manual_seed(0)
    model = build_model("resnet50", num_classes=1000, image_size=32, drop_path=0.5).eval()
    reference = resnet50(weights=None).eval()
    reference.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)
        # in training the last block keeps its identity path: a dropped sample's block output is relu(identity)
        block = model.layer4[2]
        block.train()
        block.drop_path.p = 1.0 - 1e-6  # (all but) always dropped
        feats = torch.randn(2, 2048, 1, 1)
        torch.testing.assert_close(block(feats), torch.relu(feats), rtol=0, atol=0)


def test_resnet50_with_drop_path_deepcopies_and_pickles() -> None:
    model = build_model("resnet50", num_classes=5, image_size=32, drop_path=0.2).eval()
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    x = torch.randn(2, 3, 32, 32)
    for clone in (copy.deepcopy(model), torch.load(buffer, weights_only=False)):
        clone.eval()
        with torch.no_grad():
            torch.testing.assert_close(clone(x), model(x), rtol=0, atol=0)
        # each clone's hook drives the clone's own DropPath, so clone.train() switches it on
        hook = next(iter(clone.layer4[2].bn3._forward_hooks.values()))
        assert hook.args[0] is clone.layer4[2].drop_path is not model.layer4[2].drop_path
        clone.train()
        assert clone.layer4[2].drop_path.training and not model.layer4[2].drop_path.training


def test_vit_rates_rise_linearly_from_zero() -> None:
    vit = build_model("vit_scratch", num_classes=5, image_size=32, embed_dim=32, depth=3, num_heads=2,
                      patch_size=8, drop_path=0.2)
    assert [b.drop_path.p for b in vit.blocks] == pytest.approx([0.0, 0.1, 0.2])


def test_none_keeps_the_family_default() -> None:
    iformer = build_model("iformer_small", num_classes=5, image_size=64)  # drop_path=None
    assert iformer.blocks4[-1].drop_path.p == pytest.approx(0.2)  # published rate of the small net at 224 px
    timm_resnet = build_model("timm", num_classes=5, image_size=32, arch="resnet18")
    assert not any(getattr(m, "drop_prob", 0.0) for m in timm_resnet.modules())  # timm's resnet18 default: off


@pytest.mark.parametrize("name", available_models())
@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_out_of_range_rate_is_a_config_error_naming_the_model(name: str, rate: float) -> None:
    with pytest.raises(ConfigError, match=rf"model={name}: drop_path must be in \[0, 1\).*{rate}"):
        build_model(name, num_classes=5, image_size=64, drop_path=rate)


def test_old_option_name_is_gone_from_the_registry() -> None:
    for name in available_models():
        assert hasattr(model_schema(name), "drop_path") and not hasattr(model_schema(name), "drop_path_rate")
    with pytest.raises(TypeError, match="drop_path_rate"):
        build_model("vit_scratch", num_classes=5, image_size=32, drop_path_rate=0.1)


@pytest.mark.parametrize("name,default", [
    ("vit_scratch", 0.0), ("vit_scratch_study", 0.0), ("vit_timm", 0.0), ("timm", None), ("resnet50", 0.0),
    ("iformer_small", None), ("iformer_base", None), ("iformer_large", None),
])
def test_config_defaults(name: str, default) -> None:
    assert validate(composed(f"model={name}")).model.drop_path == default
    assert model_schema(name).drop_path == default


@pytest.mark.parametrize("name", available_models())
def test_config_drop_path_validates_for_every_model(name: str) -> None:
    cfg = validate(composed(f"model={name}", "model.drop_path=0.1"))
    assert cfg.model.name == name and cfg.model.drop_path == pytest.approx(0.1)
    assert "drop_path_rate" not in cfg.model


@pytest.mark.parametrize("name", available_models())
def test_config_old_key_drop_path_rate_is_refused(name: str) -> None:
    with pytest.raises(ConfigError, match=r"model\.drop_path_rate"):
        validate(composed(f"model={name}", "+model.drop_path_rate=0.1"))
    with pytest.raises(ConfigCompositionException, match=r"model\.drop_path_rate"):  # no such key in the YAML
        composed(f"model={name}", "model.drop_path_rate=0.1")


def test_checkpoints_from_before_the_rename_load_with_the_new_name(tmp_path: Path) -> None:
    from artgenre.rundir import checkpoint

    state = {"format": checkpoint.FORMAT_VERSION, "epoch": 1, "model": {}, "classes": ["a", "b"],
             "config": {"model": {"name": "vit_scratch", "drop_path_rate": 0.1}, "trainer": {"precision": "fp32"}}}
    checkpoint.atomic_save(state, tmp_path / "old.pt")
    config = checkpoint.load(tmp_path / "old.pt")["config"]
    assert config["model"] == {"name": "vit_scratch", "drop_path": 0.1}
    assert validate(OmegaConf.create(config)).model.drop_path == 0.1  # and "fp32" is still a precision


def test_a_checkpoint_from_before_drop_path_existed_resumes_with_its_default(tmp_path: Path) -> None:
    from artgenre.errors import CheckpointError
    from artgenre.training.resume import check_compatible

    saved = OmegaConf.to_container(composed("model=resnet50"), resolve=True)
    saved["model"] = {"name": "resnet50", "zero_init_residual": False, "pretrained": None}  # as saved before
    saved = OmegaConf.create(saved)
    check_compatible(saved, composed("model=resnet50"), tmp_path / "last.pt")  # drop_path 0.0 then and now
    with pytest.raises(CheckpointError, match="drop_path"):
        check_compatible(saved, composed("model=resnet50", "model.drop_path=0.2"), tmp_path / "last.pt")


def test_sync_batchnorm_keeps_resnet50_drop_path() -> None:
    from artgenre.training.setup import to_sync_batchnorm

    model = build_model("resnet50", num_classes=5, image_size=32, drop_path=0.3)
    hooks = {name: list(m._forward_hooks.values()) for name, m in model.named_modules() if m._forward_hooks}
    assert len(hooks) == 15  # every Bottleneck's bn3 but the first block's (rate 0)
    synced = to_sync_batchnorm(model)
    assert isinstance(synced.layer4[-1].bn3, nn.SyncBatchNorm)
    # the very hooks, still bound to each block's own DropPath
    assert {name: list(m._forward_hooks.values()) for name, m in synced.named_modules() if m._forward_hooks} == hooks
    assert hooks["layer4.2.bn3"][0].args[0] is synced.layer4[2].drop_path
