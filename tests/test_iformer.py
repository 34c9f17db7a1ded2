"""The Inception Transformer (artgenre.models.iformer) against the published model's facts.

The reference data (state_dict key/shape lists and logits test vectors measured on the
published implementation: public facts, see tests/reference/README.md) travels with the
repository in tests/reference; ARTGENRE_REFERENCE_DIR points elsewhere, and ../shared/reference
next to the repository is read when tests/reference is missing.
Shape and parameter-count checks build on the meta device, so the large variants cost
no memory or init time.
"""

from __future__ import annotations

import copy
import json
import os
import warnings
import zlib
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from artgenre.models import iformer_timm
from artgenre.models.iformer import (
    VARIANTS,
    DropPath,
    InceptionTransformer,
    iformer_small,
    resize_pos_embed,
    resize_pos_embeds,
)


def _reference_dir() -> Path | None:
    here = Path(__file__).resolve()
    candidates = [here.parent / "reference", here.parents[2] / "shared" / "reference"]
    if os.environ.get("ARTGENRE_REFERENCE_DIR"):
        candidates.insert(0, Path(os.environ["ARTGENRE_REFERENCE_DIR"]))
    for path in candidates:
        if (path / "iformer_state_dict_shapes.json").is_file():
            return path
    return None


REFERENCE = _reference_dir()
needs_reference = pytest.mark.skipif(
    REFERENCE is None,
    reason="iFormer reference data not found: expected tests/reference (or ARTGENRE_REFERENCE_DIR) "
    "holding iformer_state_dict_shapes.json and iformer_vectors.json",
)


def _load_json(name: str):
    if REFERENCE is None or not (REFERENCE / name).is_file():
        return None
    return json.loads((REFERENCE / name).read_text())


SHAPES = _load_json("iformer_state_dict_shapes.json") or {}
VECTORS = _load_json("iformer_vectors.json") or []

ENTRIES = ["iformer_small", "iformer_base", "iformer_large", "iformer_small_384", "iformer_base_384", "iformer_large_384"]
PARAMS = {
    "iformer_small": 19_866_344,
    "iformer_base": 47_866_216,
    "iformer_large": 86_637_096,
    "iformer_small_384": 20_899_944,
    "iformer_base_384": 48_936_296,
    "iformer_large_384": 87_743_656,
}


def _variant(entry: str) -> tuple[str, int]:
    """'iformer_base_384' -> ('iformer_base', 384): builder name and build-time image size."""
    if entry.endswith("_384"):
        return entry[: -len("_384")], 384
    return entry, 224


def _on_meta(entry: str, **kw) -> InceptionTransformer:
    name, size = _variant(entry)
    with torch.device("meta"):
        return VARIANTS[name](image_size=size, **kw)


def weight_for(key: str, shape: tuple) -> torch.Tensor:
    """Deterministic weights from the key name alone: reference/README.md, verbatim in behaviour."""
    if key.endswith("num_batches_tracked"):
        return torch.tensor(0, dtype=torch.long)
    g = torch.Generator().manual_seed(zlib.crc32(key.encode()))
    t = torch.randn(shape, generator=g) * 0.02
    if key.endswith("running_var"):
        return 1.0 + 10 * t.abs()
    if "layer_scale" in key:
        return 0.1 + t
    if key.endswith(".weight") and len(shape) == 1:  # LayerNorm / BatchNorm scale
        return 1.0 + t
    return t


@pytest.fixture(scope="module")
def small() -> InceptionTransformer:
    """A randomly initialised iformer_small (224 px, 10 classes), eval mode; tests must not modify it."""
    torch.manual_seed(0)
    return iformer_small(num_classes=10).eval()


# ---------------------------------------------------------------- published layout
@needs_reference
@pytest.mark.parametrize("entry", ENTRIES)
def test_state_dict_matches_published_keys_order_and_shapes(entry: str) -> None:
    want = SHAPES[entry]
    got = {k: list(v.shape) for k, v in _on_meta(entry).state_dict().items()}
    assert list(got) == list(want), "keys differ in name or order"
    assert got == want


@pytest.mark.parametrize("entry", ENTRIES)
def test_parameter_counts(entry: str) -> None:
    model = _on_meta(entry)
    assert sum(p.numel() for p in model.parameters()) == PARAMS[entry]


@needs_reference
@pytest.mark.parametrize(
    "vector", VECTORS, ids=[f"{v['model']}-{v['image_size']}px-seed{v['input_seed']}" for v in VECTORS]
)
def test_published_logits(vector: dict) -> None:
    """Eval-mode logits of the published model, within 1e-4, with README.md's weights and input."""
    name, built_for = _variant(vector["model"])
    model = VARIANTS[name](image_size=built_for).eval()
    state = {k: weight_for(k, tuple(v.shape)) for k, v in model.state_dict().items()}
    model.load_state_dict(state, strict=True)
    size = vector["image_size"]  # may differ from built_for: the pos embeds are resized at run time
    g = torch.Generator().manual_seed(vector["input_seed"])
    images = torch.randn(vector["batch"], 3, size, size, generator=g)
    with torch.no_grad():
        logits = model(images)
    want = torch.tensor(vector["logits"])
    assert logits.shape == want.shape
    torch.testing.assert_close(logits, want, atol=1e-4, rtol=0)


# ---------------------------------------------------------------- image sizes
def test_non_square_input(small: InceptionTransformer) -> None:
    with torch.no_grad():
        features = small.forward_features(torch.randn(1, 3, 224, 256))
        logits = small.forward_head(features)
    assert features.shape == (1, 7, 8, 384)
    assert logits.shape == (1, 10)


def test_built_for_non_square_size() -> None:
    with torch.device("meta"):
        model = iformer_small(image_size=(224, 256))
    shapes = [tuple(getattr(model, f"pos_embed{i}").shape) for i in range(1, 5)]
    assert shapes == [(1, 56, 64, 96), (1, 28, 32, 192), (1, 14, 16, 320), (1, 7, 8, 384)]


def test_odd_stage_sizes_round_up() -> None:
    """240 px: stride-2 convs round up, so stage 4 is 8x8, not 7x7 (IFORMER.md)."""
    with torch.device("meta"):
        model = iformer_small(image_size=240)
    assert [getattr(model, f"pos_embed{i}").shape[1] for i in range(1, 5)] == [60, 30, 15, 8]


@pytest.mark.parametrize("bad", [200, 230, (224, 232), (232, 224)])
def test_size_not_multiple_of_16_is_refused(bad) -> None:
    with pytest.raises(ValueError, match="multiples of 16"):
        iformer_small(image_size=bad)


def test_constructor_and_forward_refuse_bad_sizes(small: InceptionTransformer) -> None:
    with pytest.raises(ValueError, match="multiples of 16"):
        InceptionTransformer((1, 1, 1, 1), (64, 64, 64, 64), (2, 2, 2, 2), (1, 1, 1, 1), img_size=72)
    with pytest.raises(ValueError, match="multiples of 16"):
        small(torch.randn(1, 3, 224, 232))


def test_resize_pos_embed_is_bilinear_without_corner_alignment() -> None:
    pe = torch.randn(1, 14, 14, 8)
    out = resize_pos_embed(pe, (24, 20))
    assert out.shape == (1, 24, 20, 8)
    want = F.interpolate(pe.permute(0, 3, 1, 2), size=(24, 20), mode="bilinear", align_corners=False)
    torch.testing.assert_close(out, want.permute(0, 2, 3, 1))
    assert resize_pos_embed(pe, (14, 14)) is pe


def test_checkpoint_resized_for_another_size_gives_run_time_resize_logits(small: InceptionTransformer) -> None:
    """224 px weights in a model built for 256x288 == the 224 px model run on 256x288 images."""
    target = iformer_small(num_classes=10, image_size=(256, 288)).eval()
    with pytest.raises(RuntimeError):
        target.load_state_dict(small.state_dict(), strict=True)  # shapes differ without resizing
    target.load_state_dict(resize_pos_embeds(small.state_dict(), target), strict=True)
    assert target.pos_embed1.shape == (1, 64, 72, 96)
    images = torch.randn(1, 3, 256, 288, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(target(images), small(images), atol=1e-5, rtol=0)


# ---------------------------------------------------------------- builders and defaults
@pytest.mark.parametrize(
    "name, size, rate",
    [
        ("iformer_small", 224, 0.2),
        ("iformer_base", 224, 0.4),
        ("iformer_large", 224, 0.5),
        ("iformer_small", 384, 0.3),
        ("iformer_base", 384, 0.5),
        ("iformer_large", 384, 0.6),
        ("iformer_small", 192, 0.2),
        ("iformer_small", (224, 256), 0.3),  # the larger side decides
    ],
)
def test_default_drop_path_rate(name: str, size, rate: float) -> None:
    with torch.device("meta"):
        model = VARIANTS[name](image_size=size)
    blocks = [b for i in range(1, 5) for b in getattr(model, f"blocks{i}")]
    probs = [b.drop_path.p for b in blocks]
    assert probs[0] == 0.0
    assert probs[-1] == pytest.approx(rate)
    steps = [b - a for a, b in zip(probs, probs[1:])]
    assert steps == pytest.approx([rate / (len(blocks) - 1)] * len(steps))  # linear over all blocks


def test_layer_scale_only_in_stages_3_and_4() -> None:
    with torch.device("meta"):
        model = iformer_small()
    for stage in (1, 2):
        assert all(b.layer_scale_1 is None for b in getattr(model, f"blocks{stage}"))
    for stage in (3, 4):
        assert all(b.layer_scale_1 is not None for b in getattr(model, f"blocks{stage}"))


def test_init_and_timm_conventions(small: InceptionTransformer) -> None:
    assert small.no_weight_decay() == {"pos_embed1", "pos_embed2", "pos_embed3", "pos_embed4"}
    assert small.pretrained_cfg == {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}
    assert small.num_classes == 10 and small.get_classifier() is small.head
    assert 0.015 < small.pos_embed1.std().item() < 0.025
    assert small.pos_embed1.abs().max().item() <= 2.0  # truncated
    assert 0.015 < small.blocks3[0].mlp.fc1.weight.std().item() < 0.025
    assert small.head.weight.abs().sum() > 0 and small.head.bias.abs().sum() == 0  # head not zero-init
    assert torch.all(small.blocks3[0].layer_scale_1 == 1e-6)
    assert torch.all(small.norm.weight == 1) and torch.all(small.patch_embed.norm1.bias == 0)

    model = copy.deepcopy(small)
    model.reset_classifier(3)
    assert model.num_classes == 3 and model.head.out_features == 3
    model.reset_classifier(0)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 384)


# ---------------------------------------------------------------- training behaviour
def test_training_step_runs_backward() -> None:
    torch.manual_seed(0)
    model = iformer_small(num_classes=5, image_size=64).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = model.head.weight.detach().clone()
    loss = F.cross_entropy(model(torch.randn(2, 3, 64, 64)), torch.tensor([0, 3]))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in model.parameters())
    opt.step()
    assert not torch.equal(before, model.head.weight)


def test_drop_path_module() -> None:
    layer = DropPath(0.5)
    x = torch.ones(64, 3, 3, 4)
    layer.train()
    torch.manual_seed(0)
    y = layer(x)
    per_sample = y.flatten(1)
    dropped = (per_sample == 0).all(dim=1)
    assert 0 < dropped.sum() < 64  # whole samples dropped, not single values
    assert torch.all(per_sample[~dropped] == 2.0)  # the survivors rescaled by 1 / keep
    layer.eval()
    assert layer(x) is x


def test_drop_path_active_in_train_mode_identity_in_eval() -> None:
    torch.manual_seed(0)
    model = iformer_small(num_classes=4, image_size=64, drop_path_rate=0.5)
    reference = iformer_small(num_classes=4, image_size=64, drop_path_rate=0.0)
    reference.load_state_dict(model.state_dict())
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        for m in (model, reference):  # gammas of 1, not 1e-6, so that dropping a deep block shows
            for i in (3, 4):
                for block in getattr(m, f"blocks{i}"):
                    block.layer_scale_1.fill_(1.0)
                    block.layer_scale_2.fill_(1.0)
        model.eval(), reference.eval()
        torch.testing.assert_close(model(images), reference(images))
        model.train(), reference.train()  # BatchNorm uses batch statistics in both
        torch.manual_seed(1)
        a = model(images)
        torch.manual_seed(2)
        b = model(images)
        assert not torch.allclose(a, b)  # different blocks dropped
        assert torch.equal(reference(images), reference(images))  # no randomness without drop path


# ---------------------------------------------------------------- timm registry
def test_timm_create_model_builds_ours() -> None:
    import timm

    for name in VARIANTS:
        assert timm.is_model(name)
        assert getattr(timm.models.model_entrypoint(name), "__module__", "") == iformer_timm.__name__
    torch.manual_seed(0)
    model = timm.create_model("iformer_small", pretrained=False, num_classes=10, img_size=64, drop_path_rate=0.1)
    assert isinstance(model, InceptionTransformer)
    assert model.num_classes == 10 and model.pos_embed4.shape == (1, 2, 2, 384)
    assert model.blocks4[-1].drop_path.p == pytest.approx(0.1)
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 10)
    with torch.device("meta"):
        rect = timm.create_model("iformer_large", img_size=(224, 256), in_chans=1)
        default = timm.create_model("iformer_base")  # no img_size: built for 224
    assert rect.pos_embed1.shape == (1, 56, 64, 96) and rect.patch_embed.proj1.in_channels == 1
    assert default.pos_embed1.shape == (1, 56, 56, 96) and default.num_classes == 1000
    assert default.blocks4[-1].drop_path.p == pytest.approx(0.4)


def test_timm_pretrained_refused_with_a_reason() -> None:
    import timm

    with pytest.raises(RuntimeError, match="no pretrained weights"):
        timm.create_model("iformer_small", pretrained=True)


def test_timm_own_iformer_untouched() -> None:
    """timm's iformer_t/s/m/l/h (Zheng 2025, another network) keep their entry points."""
    import timm

    for name in timm.list_models("iformer_*"):
        if name not in VARIANTS:
            assert timm.models.model_entrypoint(name).__module__.startswith("timm.")


def test_timm_registration_is_idempotent_and_refuses_collisions() -> None:
    import timm

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # re-registering ours must be silent
        iformer_timm.register_timm_models()
        iformer_timm.register_timm_models()
    assert timm.models.model_entrypoint("iformer_small").__module__ == iformer_timm.__name__

    def iformer_s(**kwargs):  # a name timm already uses for its own network
        raise AssertionError("must not be registered")

    timm_own = timm.models.model_entrypoint("iformer_s")
    with pytest.raises(RuntimeError, match="already has a model named 'iformer_s'"):
        iformer_timm._register_timm_entrypoint(iformer_s)
    assert timm.models.model_entrypoint("iformer_s") is timm_own


def test_import_twice_and_reload_are_silent() -> None:
    """A reload (or a second import under another name) re-registers ours without warnings."""
    import subprocess
    import sys

    script = (
        "import importlib, warnings, timm\n"
        "import artgenre.models.iformer_timm as m\n"
        "warnings.simplefilter('error')\n"
        "import artgenre.models.iformer_timm\n"
        "m = importlib.reload(m)\n"
        "assert timm.models.model_entrypoint('iformer_small') is not None\n"
        "model = timm.create_model('iformer_small', num_classes=3, img_size=32)\n"
        "assert type(model) is m.InceptionTransformer, type(model)\n"
    )
    src = str(Path(iformer_timm.__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
