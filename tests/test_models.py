"""Every registered model: output shape, parameter count, and the weight-decay exemptions."""

from __future__ import annotations

import pytest
import torch

from artgenre.models import build_model, normalization
from artgenre.training.optim import param_groups


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ViT-B/16 has 86,567,656 parameters with 1000 classes; a 10-class head saves 769 * 990.
VIT_B16_10 = 86_567_656 - 769 * 990
RESNET50_10 = 25_557_032 - 2049 * 990


def test_vit_scratch_default_is_vit_b16() -> None:
    model = build_model("vit_scratch", num_classes=10, image_size=224)
    assert n_params(model) == VIT_B16_10
    assert len(model.blocks) == 12 and model.blocks[0].attn.num_heads == 12


def test_vit_scratch_study_has_six_blocks_six_heads() -> None:
    model = build_model("vit_scratch_study", num_classes=10, image_size=384)
    assert len(model.blocks) == 6 and model.blocks[0].attn.num_heads == 6
    assert model.pos_embed.shape == (1, 24 * 24 + 1, 768)


def test_vit_timm_has_our_head_not_1000_classes() -> None:
    model = build_model("vit_timm", num_classes=10, image_size=224)
    assert model.head.out_features == 10 and n_params(model) == VIT_B16_10
    assert build_model("vit_timm", num_classes=10, image_size=384).pos_embed.shape[1] == 577


def test_resnet50_final_layer_replaced() -> None:
    model = build_model("resnet50", num_classes=10, image_size=64)
    assert model.fc.out_features == 10 and n_params(model) == RESNET50_10
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 10)


@pytest.mark.parametrize("name,options", [
    ("vit_scratch", dict(embed_dim=32, depth=2, num_heads=2, patch_size=8)),
    ("timm", dict(arch="resnet18")),
    ("timm", dict(arch="vit_tiny_patch16_224")),
])
def test_small_models_forward_and_backward(name: str, options: dict) -> None:
    model = build_model(name, num_classes=7, image_size=32, **options)
    out = model(torch.randn(3, 3, 32, 32))
    assert out.shape == (3, 7)
    out.sum().backward()


def test_vit_scratch_takes_other_input_sizes() -> None:
    model = build_model("vit_scratch", num_classes=3, image_size=32, embed_dim=16, depth=1, num_heads=2, patch_size=8)
    assert model(torch.randn(1, 3, 48, 64)).shape == (1, 3)  # position embedding resized on the fly


def test_unknown_option_names_itself() -> None:
    with pytest.raises(TypeError, match="depthh"):
        build_model("vit_scratch", num_classes=3, image_size=32, depthh=2)


def test_unknown_model_lists_choices() -> None:
    with pytest.raises(KeyError, match="resnet50"):
        build_model("resnet5", num_classes=3, image_size=32)


def test_normalization_comes_from_the_model() -> None:
    mean, std = normalization(build_model("vit_timm", num_classes=2, image_size=224))
    assert mean == (0.5, 0.5, 0.5) and std == (0.5, 0.5, 0.5)
    assert normalization(build_model("resnet50", num_classes=2, image_size=32))[0] == (0.485, 0.456, 0.406)


def test_no_weight_decay_on_biases_norms_tokens_and_position_embeddings() -> None:
    model = build_model("vit_scratch", num_classes=3, image_size=32, embed_dim=16, depth=1, num_heads=2, patch_size=8)
    decay, no_decay = param_groups(model, 0.05)
    names = {id(p): n for n, p in model.named_parameters()}
    exempt = {names[id(p)] for p in no_decay["params"]}
    assert {"cls_token", "pos_embed", "norm.weight", "norm.bias", "head.bias", "blocks.0.attn.qkv.bias"} <= exempt
    decayed = {names[id(p)] for p in decay["params"]}
    assert decayed == {"patch_embed.proj.weight", "blocks.0.attn.qkv.weight", "blocks.0.attn.proj.weight",
                       "blocks.0.mlp.fc1.weight", "blocks.0.mlp.fc2.weight", "head.weight"}
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0


@pytest.mark.parametrize("name", ["iformer_small", "iformer_base", "iformer_large"])
def test_iformer_is_registered_with_its_config(name: str) -> None:
    model = build_model(name, num_classes=10, image_size=64)
    assert model.num_classes == 10


def test_iformer_small_forward_at_small_size() -> None:
    model = build_model("iformer_small", num_classes=10, image_size=64)
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 10)


def test_an_image_size_the_model_cannot_take_is_a_config_error() -> None:
    from artgenre.errors import ConfigError

    with pytest.raises(ConfigError, match="iformer_small.*multiples of 16"):
        build_model("iformer_small", num_classes=10, image_size=200)
    with pytest.raises(ConfigError, match="vit_scratch"):
        build_model("vit_scratch", num_classes=10, image_size=100)
