"""Heatmaps: the model's own (brightest where its decision comes from), for every family, and artgenre-explain."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

pytest.importorskip("pytorch_grad_cam", reason="needs the grad-cam package: pip install 'artgenre[explain]'")

from artgenre import explain as ag_explain  # noqa: E402
from artgenre.errors import ConfigError  # noqa: E402
from artgenre.evaluation.explain import METHODS, heatmaps  # noqa: E402
from artgenre.models import ExplainTarget, available_models, build_model, explain_spec  # noqa: E402
from artgenre.models.iformer import iformer_explain_target  # noqa: E402
from artgenre.models.vit import vit_explain_target  # noqa: E402

SIZE = 32
# the one region the toy models decide on: rows 4-11, columns 20-27 (off-centre and not
# symmetric, so a transposed or mirrored map lands elsewhere)
REGION = (slice(4, 12), slice(20, 28))


def region_mask() -> torch.Tensor:
    mask = torch.zeros(SIZE, SIZE)
    mask[REGION] = 1.0
    return mask


class RegionCNN(nn.Module):
    """A convnet that sees only REGION: the input is masked before the first layer, the convolutions
    have no bias, so nothing outside the region reaches the average-pooled head."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mask", region_mask()[None, None])
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU(),
                                      nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.ReLU())
        self.head = nn.Linear(8, 2)
        with torch.no_grad():
            for conv in (self.features[0], self.features[2]):
                conv.weight.abs_()  # positive features for a positive image
            self.head.weight.copy_(torch.tensor([[1.0] * 8, [-1.0] * 8]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x * self.mask).mean(dim=(2, 3)))


class TokenMixer(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm1 = nn.ReLU()  # the target layer of vit_explain_target (a LayerNorm in a real ViT)
        self.mix = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.norm1(x)
        cls = tokens[:, 1:].mean(dim=1, keepdim=True)  # the class token gathers the patch tokens
        return torch.cat([self.mix(cls), tokens[:, 1:]], dim=1)


class RegionViT(nn.Module):
    """A ViT-shaped toy (class token + 4x4-pixel patch tokens, ``blocks[-1].norm1``, ``grid_size``,
    ``num_prefix_tokens``) that sees only REGION; the head reads the class token, as ViTs do."""

    num_prefix_tokens = 1

    def __init__(self, patch: int = 4, dim: int = 8) -> None:
        super().__init__()
        self.register_buffer("mask", region_mask()[None, None])
        self.grid_size = (SIZE // patch, SIZE // patch)
        self.patch_embed = nn.Conv2d(3, dim, patch, patch, bias=False)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.Sequential(TokenMixer(dim))
        self.head = nn.Linear(dim, 2)
        with torch.no_grad():
            self.patch_embed.weight.abs_()
            self.blocks[0].mix.weight.copy_(torch.eye(dim))
            self.head.weight.copy_(torch.tensor([[1.0] * dim, [-1.0] * dim]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch_embed(x * self.mask).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls_token.expand(len(x), -1, -1), tokens], dim=1)
        return self.head(self.blocks(tokens)[:, 0])


class RegionIFormer(nn.Module):
    """An iFormer-shaped toy: a channels-last token map, ``norm`` as its last layer, tokens averaged into the head."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mask", region_mask()[None, None])
        self.stem = nn.Conv2d(3, 8, 2, 2, bias=False)
        self.norm = nn.ReLU()  # the target layer of iformer_explain_target (a LayerNorm in the real one)
        self.head = nn.Linear(8, 2)
        with torch.no_grad():
            self.stem.weight.abs_()
            self.head.weight.copy_(torch.tensor([[1.0] * 8, [-1.0] * 8]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.stem(x * self.mask).permute(0, 2, 3, 1)).mean(dim=(1, 2)))


TOYS = {
    "cnn": (RegionCNN, lambda m: ExplainTarget([m.features])),
    "vit_tokens": (RegionViT, vit_explain_target),
    "iformer_map": (RegionIFormer, iformer_explain_target),
}


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("toy", sorted(TOYS))
def test_heatmap_is_brightest_where_the_decision_comes_from(toy: str, method: str) -> None:
    torch.manual_seed(0)
    build, target = TOYS[toy]
    model = build().eval()
    images = torch.rand(3, 3, SIZE, SIZE) + 0.1  # texture everywhere, in and outside the region
    maps = heatmaps(model, target(model), images, [0, 0, 0], method)
    assert maps.shape == (3, SIZE, SIZE) and np.isfinite(maps).all()
    inside = np.zeros((SIZE, SIZE), dtype=bool)
    inside[REGION] = True
    for heat in maps:
        peak = np.unravel_index(heat.argmax(), heat.shape)
        assert inside[peak], f"{toy}/{method}: brightest at {peak}, outside the region"
        assert heat[inside].mean() > 0.3 and heat[inside].mean() > 4 * heat[~inside].mean()


def test_a_model_that_does_not_look_there_gives_another_map() -> None:
    """The map follows the model: the same toy with its region moved lights up the new region."""
    torch.manual_seed(0)
    model = RegionCNN().eval()
    model.mask.zero_()
    model.mask[..., 20:28, 2:10] = 1.0
    heat = heatmaps(model, ExplainTarget([model.features]), torch.rand(1, 3, SIZE, SIZE) + 0.1, [0])[0]
    assert heat[20:28, 2:10].mean() > 4 * heat[REGION].mean()


# Each family's registered target on a real network of that family, small enough for a CPU
# test, at a size where its last map is 2x2 or more. The registry entries that share a target
# (vit_timm and the vit_scratch pair, the three iFormer sizes) are checked to share it.
FAMILY_SIZE = 64


def tiny_resnet() -> nn.Module:
    from torchvision.models import resnet18

    return resnet18(num_classes=3)  # torchvision's ResNet like resnet50: the same layer4[-1]


def tiny_iformer() -> nn.Module:
    from artgenre.models.iformer import InceptionTransformer

    return InceptionTransformer(depths=(1, 1, 1, 1), embed_dims=(64, 64, 96, 96), num_heads=(2, 2, 3, 3),
                                attention_heads=(1, 1, 1, 1), num_classes=3, img_size=FAMILY_SIZE)


FAMILIES = {
    "resnet50": ("resnet50", tiny_resnet),
    "vit_scratch": ("vit_scratch", lambda: build_model("vit_scratch", 3, FAMILY_SIZE, embed_dim=32, depth=1,
                                                       num_heads=2, patch_size=16)),
    "iformer": ("iformer_small", tiny_iformer),
    "timm-iformer": ("timm", tiny_iformer),  # model=timm model.arch=iformer_small builds our network
    "timm-vit": ("timm", lambda: build_model("timm", 3, FAMILY_SIZE, arch="test_vit")),
    "timm-resnet": ("timm", lambda: build_model("timm", 3, FAMILY_SIZE, arch="test_resnet")),
    "timm-efficientnet": ("timm", lambda: build_model("timm", 3, FAMILY_SIZE, arch="test_efficientnet")),
}


def test_every_registered_model_has_a_heatmap_method() -> None:
    for name in available_models():
        assert explain_spec(name).method in METHODS, name
    assert explain_spec("vit_timm") is explain_spec("vit_scratch") is explain_spec("vit_scratch_study")
    assert explain_spec("iformer_base") is explain_spec("iformer_small") is explain_spec("iformer_large")
    assert {name for name, _ in FAMILIES.values()} | {"vit_timm", "vit_scratch_study", "iformer_base",
                                                       "iformer_large"} == set(available_models())


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_draws_a_map(family: str) -> None:
    torch.manual_seed(0)
    name, build = FAMILIES[family]
    model = build().eval()
    spec = explain_spec(name)
    maps = heatmaps(model, spec.target(model), torch.randn(2, 3, FAMILY_SIZE, FAMILY_SIZE), [0, 2], spec.method)
    assert maps.shape == (2, FAMILY_SIZE, FAMILY_SIZE) and np.isfinite(maps).all()
    assert maps.min() >= 0 and maps.max() <= 1 and maps.max() > 0  # not blank: the gradients reached the layer


# ------------------------------------------------------------------ the command
@pytest.mark.slow
def test_explain_cli_writes_figures_and_json(tmp_path_factory: pytest.TempPathFactory, synthetic_root: Path,
                                             tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from test_eval import trained_run, val_paths

    run_dir = trained_run(tmp_path_factory, synthetic_root)
    images = [synthetic_root / p for p in val_paths(run_dir)[:3]]
    with (run_dir / "split.csv").open() as f:
        classes = {row["path"]: row["class_name"] for row in csv.DictReader(f)}
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    ckpt = run_dir / "checkpoints" / "best.pt"
    with pytest.raises(SystemExit) as stop:  # one unreadable file: reported, the others still explained
        ag_explain.main([f"checkpoint={ckpt}", *map(str, images), str(broken), "target=true", f"out={tmp_path / 'out'}"])
    assert stop.value.code == 1
    result = json.loads((tmp_path / "out" / "explanations.json").read_text())["results"]
    assert [r["path"] for r in result] == [*map(str, images), str(broken)]
    assert "error" in result[-1] and "broken.jpg" in capsys.readouterr().err
    for entry, image in zip(result, images):
        assert len(entry["top"]) == 3 and abs(sum(t["probability"] for t in entry["top"])) <= 1 + 1e-6
        assert entry["heatmaps"][0] == entry["top"][0]  # the predicted class first
        true_class = classes[str(image.relative_to(synthetic_root))]
        assert true_class in [h["class"] for h in entry["heatmaps"]]  # target=true: the image's class (split.csv) too
        with Image.open(tmp_path / "out" / entry["figure"]) as figure:
            assert figure.width > figure.height > 100


def test_bad_arguments_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no images"):
        ag_explain.parse_args(["checkpoint=x.pt"])
    with pytest.raises(ConfigError, match="method=magic"):
        ag_explain.parse_args(["checkpoint=x.pt", "a.jpg", "method=magic"])
    with pytest.raises(ConfigError, match="no checkpoint"):
        ag_explain.parse_args(["a.jpg"])


def test_missing_grad_cam_is_one_message_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pytorch_grad_cam", None)  # as if not installed
    model = RegionCNN().eval()
    with pytest.raises(ConfigError, match=r"pip install 'artgenre\[explain\]'"):
        heatmaps(model, ExplainTarget([model.features]), torch.rand(1, 3, SIZE, SIZE), [0])


def test_true_class_from_the_folder_name() -> None:
    from artgenre.evaluation.explain import class_from_folder

    classes = ["Cubism (Pablo Picasso)", "Baroque (Rembrandt)", "cats"]
    assert class_from_folder("x/Pablo_Picasso/1.jpg", classes) == "Cubism (Pablo Picasso)"
    assert class_from_folder("x/rembrandt/1.jpg", classes) == "Baroque (Rembrandt)"
    assert class_from_folder("x/Cats/1.jpg", classes) == "cats"
    assert class_from_folder("x/dogs/1.jpg", classes) is None
