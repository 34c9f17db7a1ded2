"""The project's ViT is timm's ViT: same parameter names and shapes, same logits.

timm's models are built with random weights (no download). Every parameter is then
perturbed, so that LayerNorm scales, biases and the class token are not at their
initial ones and zeros, where swapped or missing terms would cancel out unnoticed.
"""

from __future__ import annotations

import pytest
import timm
import torch

from artgenre.models import build_model


@pytest.mark.slow  # two full ViT-B/16 models and forward passes, at 224 and 384 px
@pytest.mark.parametrize("arch,size,batch", [("vit_base_patch16_224", 224, 2), ("vit_base_patch16_384", 384, 1)])
def test_vit_scratch_loads_timm_vit_b16_strictly_and_gives_its_logits(arch: str, size: int, batch: int) -> None:
    torch.manual_seed(0)
    reference = timm.create_model(arch, pretrained=False).eval()
    with torch.no_grad():
        for p in reference.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    ours = build_model("vit_scratch", num_classes=1000, image_size=size).eval()

    ours.load_state_dict(reference.state_dict(), strict=True)

    images = torch.randn(batch, 3, size, size)
    with torch.no_grad():
        expected_tokens = reference.forward_features(images)
        tokens = ours.forward_features(images)
        expected, logits = reference.forward_head(expected_tokens), ours.forward_head(tokens)
    assert logits.shape == (batch, 1000)
    assert expected.abs().max() > 0.1, "the comparison must not be between two near-zero outputs"
    assert (tokens - expected_tokens).abs().max().item() < 1e-5  # every token, not only the class token
    assert (logits - expected).abs().max().item() < 1e-5


def test_vit_scratch_has_timm_state_dict_layout() -> None:
    """Same keys in the same order with the same shapes, for a small configuration."""
    kw = dict(patch_size=8, embed_dim=64, depth=2, num_heads=4, num_classes=7)
    reference = timm.models.VisionTransformer(img_size=32, **kw)
    ours = build_model("vit_scratch", num_classes=7, image_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=4)
    theirs = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == theirs
    assert list(ours.state_dict()) == list(theirs)
