"""model.pretrained: weights files in every format, fitted to the model, or refused with a clear message.

Every "pretrained" file here is written by the test from a randomly initialised model, so
nothing is downloaded; the library caches are imitated in tmp_path in their real layouts.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file
from torch import nn

from artgenre.errors import WeightsError
from artgenre.models import build_model, model_summary
from artgenre.models.summary import count_flops

SMALL_VIT = dict(embed_dim=32, depth=1, num_heads=2, patch_size=8)


def small_vit(num_classes: int = 10, image_size: int = 32, **kw) -> nn.Module:
    return build_model("vit_scratch", num_classes, image_size, **{**SMALL_VIT, **kw})


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], skip: str = "\0") -> None:
    keys = [k for k in a if not k.startswith(skip)]
    assert keys and all(torch.equal(a[k], b[k]) for k in keys)


def save(state: dict, path: Path) -> Path:
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path


@pytest.fixture
def empty_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the Hugging Face and torch hub caches at an empty folder."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


# ------------------------------------------------------------------------ file formats
@pytest.mark.parametrize("name,wrap", [
    ("weights.pth", lambda sd: sd),
    ("weights.pt", lambda sd: {"model": sd, "epoch": 3}),
    ("weights.bin", lambda sd: {"state_dict": {f"module.{k}": v for k, v in sd.items()}}),
    ("weights.safetensors", lambda sd: sd),
    ("ema.pth", lambda sd: {"model_ema": sd, "optimizer": {"lr": 0.1}}),
])
def test_every_format_loads_every_tensor(tmp_path: Path, name: str, wrap) -> None:
    source = small_vit().state_dict()
    path = save(wrap(source), tmp_path / name)
    model = small_vit(pretrained=str(path))
    assert_same(source, model.state_dict())
    assert model.weights_origin == str(path)


def test_a_path_object_works_from_python(tmp_path: Path) -> None:
    path = save(small_vit().state_dict(), tmp_path / "w.pth")
    assert small_vit(pretrained=path).weights_origin == str(path)


def test_a_downloaded_hugging_face_folder_works(tmp_path: Path) -> None:
    path = save(small_vit().state_dict(), tmp_path / "model.safetensors")
    assert small_vit(pretrained=str(tmp_path)).weights_origin == str(path)


# ------------------------------------------------------------------------ fitting the weights
def test_other_class_count_reinitialises_only_the_head(tmp_path: Path) -> None:
    imagenet = small_vit(num_classes=1000).state_dict()
    path = save(imagenet, tmp_path / "in1k.pth")
    torch.manual_seed(1)
    model = small_vit(num_classes=10, pretrained=str(path))
    torch.manual_seed(1)
    fresh = small_vit(num_classes=10)
    loaded = model.state_dict()
    assert_same(imagenet, loaded, skip="head.")
    assert loaded["head.weight"].shape == (10, 32)
    assert torch.equal(loaded["head.weight"], fresh.state_dict()["head.weight"]), "the build's own initialisation"
    assert "1000 classes in the file, 10 here" in model.weights_origin


def test_vit_224_weights_resized_for_384(tmp_path: Path) -> None:
    at_224 = small_vit(image_size=224, patch_size=16).eval()
    path = save(at_224.state_dict(), tmp_path / "vit224.pth")
    at_384 = small_vit(image_size=384, patch_size=16, pretrained=str(path)).eval()

    assert at_384.pos_embed.shape == (1, 24 * 24 + 1, 32)
    assert torch.equal(at_384.pos_embed[:, 0], at_224.pos_embed[:, 0]), "the class token's embedding is kept"
    assert "1x197x32 -> 1x577x32" in at_384.weights_origin
    # the same as running the 224 model on 384 px images, which resizes on the fly
    images = torch.randn(1, 3, 384, 384)
    with torch.no_grad():
        assert torch.allclose(at_384(images), at_224(images), atol=1e-5)


@pytest.mark.slow  # builds iFormer-S twice at 224 and 256 px
def test_iformer_224_weights_resized_for_256(tmp_path: Path) -> None:
    at_224 = build_model("iformer_small", 10, 224).eval()
    path = save(at_224.state_dict(), tmp_path / "iformer_small.pth")
    at_256 = build_model("iformer_small", 10, 256, pretrained=str(path)).eval()

    shapes = [tuple(getattr(at_256, f"pos_embed{i}").shape) for i in range(1, 5)]
    assert shapes == [(1, 64, 64, 96), (1, 32, 32, 192), (1, 16, 16, 320), (1, 8, 8, 384)]
    assert at_256.weights_origin.count("->") == 4
    images = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        assert torch.allclose(at_256(images), at_224(images), atol=1e-4)


# ------------------------------------------------------------------------ refusals
@pytest.mark.parametrize("file_options,expected", [
    (dict(depth=2), r"not in the model: blocks\.1\.norm1\.weight"),
    (dict(embed_dim=48), r"different shapes: cls_token \(file 1x1x48, model 1x1x32\)"),
])
def test_a_file_that_does_not_fit_names_the_keys(tmp_path: Path, file_options: dict, expected: str) -> None:
    path = save(small_vit(**file_options).state_dict(), tmp_path / "other.pth")
    with pytest.raises(WeightsError, match=expected) as caught:
        small_vit(pretrained=str(path))
    assert "size mismatch" not in str(caught.value) and "does not fit model vit_scratch" in str(caught.value)


def test_missing_keys_are_named(tmp_path: Path) -> None:
    path = save(small_vit(depth=1).state_dict(), tmp_path / "shallow.safetensors")
    with pytest.raises(WeightsError, match=r"missing from the file: blocks\.1\.norm1\.weight"):
        small_vit(depth=2, pretrained=str(path))


class _Payload:
    """Unpickling this creates a directory: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def test_a_pickle_with_arbitrary_objects_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "code_ran"
    path = tmp_path / "evil.pth"
    torch.save({"model": small_vit().state_dict(), "extra": _Payload(marker)}, path)
    with pytest.raises(WeightsError, match=r"Python objects \(posix.mkdir\), not only tensors; it is not unpickled"):
        small_vit(pretrained=str(path))
    assert not marker.exists()


def test_a_file_that_is_not_weights_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.pth").write_text("not a tensor in sight")
    with pytest.raises(WeightsError, match="not a PyTorch"):
        small_vit(pretrained=str(tmp_path / "notes.pth"))
    save({"epoch": torch.tensor(3), "lr": 0.1}, tmp_path / "optimizer.pt")
    with pytest.raises(WeightsError, match="'lr' holds a float, not a tensor"):
        small_vit(pretrained=str(tmp_path / "optimizer.pt"))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="no such file"):
        small_vit(pretrained=str(tmp_path / "nope.pth"))


# ------------------------------------------------------------------------ the library caches
@pytest.mark.parametrize("name,setting", [("resnet50", "True"), ("vit_timm", True), ("timm", "true")])
def test_library_weights_not_cached_gives_one_clear_message(empty_caches: Path, name: str, setting) -> None:
    with pytest.raises(WeightsError) as caught:
        build_model(name, 10, 224, pretrained=setting)
    message = str(caught.value)
    assert str(empty_caches) in message, "it says where the file was expected"
    assert "python -c" in message and "does not download" in message, "and how to download it once"
    assert len(message.splitlines()) == 1


def test_library_weights_for_iformer_point_to_the_authors(empty_caches: Path) -> None:
    with pytest.raises(WeightsError, match="sail-sg/iFormer"):
        build_model("iformer_small", 10, 224, pretrained="true")


def test_timm_weights_from_the_hugging_face_cache(empty_caches: Path) -> None:
    """timm's download layout: hub/models--timm--<name>/refs/main -> snapshots/<commit>/model.safetensors."""
    imagenet = timm.create_model("vit_tiny_patch16_224", pretrained=False).state_dict()
    repo = empty_caches / "hf" / "hub" / "models--timm--vit_tiny_patch16_224.augreg_in21k_ft_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abcd")
    (repo / "snapshots" / "0123abcd").mkdir(parents=True)
    save_file(imagenet, str(repo / "snapshots" / "0123abcd" / "model.safetensors"))

    model = build_model("timm", 10, 32, arch="vit_tiny_patch16_224", pretrained="True")
    loaded = model.state_dict()
    assert_same({k: v for k, v in imagenet.items() if k != "pos_embed"}, loaded, skip="head.")
    assert loaded["pos_embed"].shape == (1, 2 * 2 + 1, 192) and loaded["head.weight"].shape == (10, 192)
    assert model.weights_origin.startswith(f"timm cache (Hugging Face hub) {repo}")


def test_torchvision_weights_from_the_torch_hub_cache(empty_caches: Path) -> None:
    """torchvision's download layout: $TORCH_HOME/hub/checkpoints/<file of the URL>; the older V1 is accepted."""
    imagenet = build_model("resnet50", 1000, 64).state_dict()
    checkpoints = empty_caches / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(imagenet, checkpoints / "resnet50-0676ba61.pth")
    model = build_model("resnet50", 10, 64, pretrained="true")
    assert_same(imagenet, model.state_dict(), skip="fc.")
    assert model.fc.out_features == 10
    assert "IMAGENET1K_V1" in model.weights_origin


# ------------------------------------------------------------------------ the summary line
def test_summary_names_weights_and_counts_flops(tmp_path: Path) -> None:
    path = save(small_vit().state_dict(), tmp_path / "w.pth")
    line = model_summary(small_vit(pretrained=str(path)), "vit_scratch", 32)
    assert line.startswith("model vit_scratch (VisionTransformer): 0.02 M parameters, input 32x32 px")
    assert "GFLOPs" in line and "n/a" not in line and line.endswith(f"weights: {path}")
    assert model_summary(small_vit(), "vit_scratch", 32).endswith("weights: random init")


def test_flop_count_is_exact_and_leaves_the_model_as_it_was() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10), nn.BatchNorm1d(10)).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert count_flops(model, 8) == 2 * 192 * 10  # a multiply-add counts 2
    assert model.training and model[1].weight.device.type == "cpu"
    assert_same(before, model.state_dict())
