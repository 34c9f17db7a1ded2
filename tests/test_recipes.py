"""The small-data recipes, each against its formula: mixup/CutMix targets, the weight average,
distillation, layer-wise learning rates, early stopping, the optimizers and the presets."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from torch import nn

from artgenre.config import validate
from artgenre.errors import CheckpointError, ConfigError
from artgenre.evaluation.restore import chosen_weights
from artgenre.models import build_model
from artgenre.training import early_stopping
from artgenre.training.distill import distillation_loss, hard_distillation, load_teacher, soft_distillation
from artgenre.training.ema import WeightAverage
from artgenre.training.mixing import Mixer, mixed_targets, random_erasing
from artgenre.training.optim import OPTIMIZERS, build_optimizer, build_scheduler
from artgenre.training.recipes import BatchRecipe

CONF = Path(__file__).resolve().parents[1] / "src" / "artgenre" / "conf"


def composed(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return validate(compose(config_name="train", overrides=list(overrides)))


def mix_cfg(**kw):
    return OmegaConf.create({"mixup_alpha": 0.0, "cutmix_alpha": 0.0, "prob": 1.0, "switch_prob": 0.5, **kw})


# ------------------------------------------------------------------ mixup and CutMix
@pytest.mark.parametrize("batch", [6, 7])  # odd batches too: the middle image pairs with itself
def test_mixup_mixes_images_and_targets_by_the_same_lambda(batch: int) -> None:
    np.random.seed(0)
    images, labels = torch.randn(batch, 3, 8, 8), torch.randint(0, 4, (batch,))
    mixed, targets, lam = Mixer(mix_cfg(mixup_alpha=0.8), 4)(images, labels)
    assert 0.0 < lam < 1.0
    torch.testing.assert_close(mixed, lam * images + (1 - lam) * images.flip(0))
    torch.testing.assert_close(targets.sum(1), torch.ones(batch))
    expected = lam * F.one_hot(labels, 4).float() + (1 - lam) * F.one_hot(labels.flip(0), 4).float()
    torch.testing.assert_close(targets, expected)
    if batch % 2:
        middle = batch // 2
        torch.testing.assert_close(mixed[middle], images[middle])
        assert targets[middle, labels[middle]] == pytest.approx(1.0)


def test_cutmix_lambda_is_the_share_of_pixels_each_image_keeps() -> None:
    np.random.seed(3)
    images = torch.arange(4, dtype=torch.float32).view(4, 1, 1, 1).expand(4, 3, 16, 16).contiguous()
    labels = torch.tensor([0, 1, 2, 3])
    for _ in range(5):
        mixed, targets, lam = Mixer(mix_cfg(cutmix_alpha=1.0), 4)(images, labels)
        own = (mixed[0] == 0).float().mean().item()  # image 0's pixels still its own
        assert own == pytest.approx(lam)
        assert targets[0, 0].item() == pytest.approx(lam) and targets[0, 3].item() == pytest.approx(1 - lam)
        torch.testing.assert_close(targets.sum(1), torch.ones(4))


def test_switch_probability_and_batch_probability_are_honoured() -> None:
    np.random.seed(1)
    both = Mixer(mix_cfg(mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=0.25), 3)
    kinds = [both.draw()[0] for _ in range(4000)]
    assert kinds.count("cutmix") / len(kinds) == pytest.approx(0.25, abs=0.03)
    rare = Mixer(mix_cfg(mixup_alpha=0.8, prob=0.3), 3)
    assert [rare.draw()[0] for _ in range(4000)].count("none") / 4000 == pytest.approx(0.7, abs=0.03)


def test_soft_targets_with_label_smoothing_are_timms_mixup_target() -> None:
    from timm.data.mixup import mixup_target

    labels, lam, smoothing = torch.tensor([0, 2, 1, 1]), 0.7, 0.1
    logits = torch.randn(4, 3)
    ours = F.cross_entropy(logits, mixed_targets(labels, lam, 3), label_smoothing=smoothing, reduction="none")
    timm_targets = mixup_target(labels, 3, lam, smoothing)
    torch.testing.assert_close(ours, -(timm_targets * logits.log_softmax(1)).sum(1))


def test_train_accuracy_under_mixing_counts_the_dominant_label() -> None:
    labels = torch.tensor([0, 1, 2])
    assert BatchRecipe.scored_labels(labels, mixed_targets(labels, 0.8, 3)).tolist() == [0, 1, 2]
    assert BatchRecipe.scored_labels(labels, mixed_targets(labels, 0.2, 3)).tolist() == [2, 1, 0]


def test_random_erasing_changes_only_some_images_and_is_off_at_zero() -> None:
    assert random_erasing(0.0, torch.device("cpu")) is None
    torch.manual_seed(0)
    images = torch.zeros(64, 3, 16, 16)
    erased = random_erasing(0.5, torch.device("cpu"))(images.clone())
    changed = (erased != 0).flatten(1).any(1).float().mean().item()
    assert 0.25 < changed < 0.75


# ------------------------------------------------------------------ weight average
def toy_model(value: float) -> nn.Module:
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(value)
    return model


@pytest.mark.parametrize("decay", [0.9, 0.5])
def test_ema_with_a_fixed_decay_is_the_closed_form(decay: float) -> None:
    weights = [3.0, -1.0, 4.0, 1.5, 9.0, 2.0, 6.5]
    model = toy_model(0.0)
    ema = WeightAverage(model, OmegaConf.create({"decay": decay, "warmup": False, "warmup_gamma": 1.0,
                                                 "warmup_power": 1.0}))
    for w in weights:
        with torch.no_grad():
            model.weight.fill_(w)
        ema.update()
    n = len(weights)  # the first update copies: e_n = d^(n-1) w_1 + sum_{k>=2} (1 - d) d^(n-k) w_k
    expected = decay ** (n - 1) * weights[0] + sum((1 - decay) * decay ** (n - k) * weights[k - 1]
                                                   for k in range(2, n + 1))
    assert ema.module.weight.item() == pytest.approx(expected, rel=1e-6)
    assert ema.updates == n


def test_ema_warmup_with_gamma_and_power_one_is_the_running_mean() -> None:
    model = toy_model(0.0)
    ema = WeightAverage(model, OmegaConf.create({"decay": 0.9999, "warmup": True, "warmup_gamma": 1.0,
                                                 "warmup_power": 1.0}))
    weights = [2.0, 4.0, 9.0, -3.0, 8.0]
    for k, w in enumerate(weights, start=1):
        with torch.no_grad():
            model.weight.fill_(w)
        ema.update()
        assert ema.decay(k) == pytest.approx(1 - 1 / k)
        assert ema.module.weight.item() == pytest.approx(sum(weights[:k]) / k, rel=1e-6)


def test_ema_state_round_trips_with_its_update_count() -> None:
    cfg = OmegaConf.create({"decay": 0.99, "warmup": True, "warmup_gamma": 1.0, "warmup_power": 0.75})
    model = toy_model(1.0)
    ema = WeightAverage(model, cfg)
    for _ in range(3):
        ema.update()
    state = ema.state_dict()
    again = WeightAverage(toy_model(5.0), cfg)
    assert again.load_state_dict(state) and again.updates == 3
    assert torch.equal(again.module.weight, ema.module.weight)


# ------------------------------------------------------------------ distillation
def test_distillation_from_the_students_own_logits() -> None:
    torch.manual_seed(0)
    logits, labels = torch.randn(5, 4), torch.randint(0, 4, (5,))
    label_loss = F.cross_entropy(logits, labels, reduction="none")
    # soft: KL(p || p) = 0, so only (1 - alpha) of the label loss is left
    soft = distillation_loss(label_loss, logits, logits.clone(), "soft", alpha=0.3, temperature=2.0)
    torch.testing.assert_close(soft, 0.7 * label_loss)
    # hard: the distillation term is the cross-entropy against the student's own top class
    hard = distillation_loss(label_loss, logits, logits.clone(), "hard", alpha=0.3, temperature=2.0)
    torch.testing.assert_close(hard, 0.7 * label_loss + 0.3 * F.cross_entropy(logits, logits.argmax(1),
                                                                              reduction="none"))


def test_soft_distillation_is_t_squared_kl_at_temperature() -> None:
    torch.manual_seed(1)
    student, teacher, t = torch.randn(6, 5), torch.randn(6, 5), 3.0
    expected = F.kl_div(F.log_softmax(student / t, 1), F.log_softmax(teacher / t, 1), log_target=True,
                        reduction="none").sum(1) * t * t
    torch.testing.assert_close(soft_distillation(student, teacher, t), expected)
    assert torch.equal(hard_distillation(student, teacher, t),
                       F.cross_entropy(student, teacher.argmax(1), reduction="none"))


def save_checkpoint(path: Path, cfg, classes: list[str], model: nn.Module, ema: bool = False) -> None:
    state = {"format": 1, "epoch": 1, "model": model.state_dict(), "classes": classes,
             "config": OmegaConf.to_container(cfg, resolve=True), "history": []}
    if ema:
        state["ema"] = {k: v + 1 for k, v in model.state_dict().items()}
    torch.save(state, path)


TINY_VIT = ["model=vit_scratch", "model.embed_dim=16", "model.depth=1", "model.num_heads=2", "model.patch_size=8",
            "data.image_size=16"]


def test_a_teacher_with_other_classes_is_refused(tmp_path: Path) -> None:
    cfg = composed(*TINY_VIT)
    model = build_model("vit_scratch", 3, 16, **{k: v for k, v in cfg.model.items() if k != "name"})
    save_checkpoint(tmp_path / "teacher.pt", cfg, ["a", "b", "c"], model)
    with pytest.raises(CheckpointError, match="classes"):
        load_teacher(str(tmp_path / "teacher.pt"), cfg, ["a", "c", "b"], ((0.5,) * 3, (0.5,) * 3),
                     torch.device("cpu"))
    teacher = load_teacher(str(tmp_path / "teacher.pt"), cfg, ["a", "b", "c"], ((0.5,) * 3, (0.5,) * 3),
                           torch.device("cpu"))
    teacher.train()
    assert not teacher.model.training and not any(p.requires_grad for p in teacher.parameters())
    images = torch.randn(2, 3, 16, 16)
    # the student's inputs are normalised by 0.5/0.5; the teacher's by ImageNet's: same pixels reach it
    from artgenre.models import normalization

    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in normalization(model))
    pixels = images * 0.5 + 0.5
    torch.testing.assert_close(teacher(images), model.eval()((pixels - mean) / std), rtol=1e-4, atol=1e-5)


def test_checkpoint_weights_choice(tmp_path: Path) -> None:
    cfg = composed(*TINY_VIT, "trainer.ema.enabled=true")
    with_ema, without = {"ema": {}}, {}
    assert chosen_weights(with_ema, cfg) == "ema" and chosen_weights(with_ema, cfg, "raw") == "raw"
    assert chosen_weights(with_ema, composed(*TINY_VIT, "trainer.ema.enabled=true", "trainer.ema.select=raw")) == "raw"
    assert chosen_weights(without, cfg) == "raw"
    with pytest.raises(CheckpointError, match="weights=raw"):
        chosen_weights(without, cfg, "ema")
    old = OmegaConf.create({"model": {"name": "resnet50"}})  # a checkpoint from before trainer.ema existed
    assert chosen_weights(without, old) == "raw"


# ------------------------------------------------------------------ layer-wise decay and optimizers
def test_layer_decay_gives_each_block_its_documented_rate() -> None:
    depth, lr, decay = 3, 1e-3, 0.5
    cfg = composed("model=vit_scratch", "model.embed_dim=16", f"model.depth={depth}", "model.num_heads=2",
                   "model.patch_size=8", "data.image_size=16", f"optim.lr={lr}", f"optim.layer_decay={decay}")
    model = build_model("vit_scratch", 4, 16, embed_dim=16, depth=depth, num_heads=2, patch_size=8)
    optimizer = build_optimizer(model, cfg.optim)
    lr_of = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    decay_of = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    named = dict(model.named_parameters())
    # embeddings: lr * d^(depth+1); block i: lr * d^(depth-i) (the final norm with the last block); head: lr
    assert lr_of[id(named["pos_embed"])] == pytest.approx(lr * decay ** (depth + 1))
    for i in range(depth):
        assert lr_of[id(named[f"blocks.{i}.attn.qkv.weight"])] == pytest.approx(lr * decay ** (depth - i))
    assert lr_of[id(named["norm.weight"])] == pytest.approx(lr * decay)
    assert lr_of[id(named["head.weight"])] == lr and optimizer.param_groups[0]["lr"] == lr
    assert decay_of[id(named["pos_embed"])] == 0.0 and decay_of[id(named["blocks.0.attn.qkv.bias"])] == 0.0
    assert decay_of[id(named["blocks.0.attn.qkv.weight"])] == cfg.optim.weight_decay
    # the schedule scales every group alike: the ratios hold at every step
    scheduler = build_scheduler(optimizer, composed("sched=cosine").sched, epochs=2, steps_per_epoch=3)
    for _ in range(4):
        optimizer.step()
        scheduler.step()
    head = optimizer.param_groups[0]["lr"]
    assert lr_of[id(named["pos_embed"])] / lr == pytest.approx(
        next(g["lr"] for g in optimizer.param_groups if any(p is named["pos_embed"] for p in g["params"])) / head)


def test_iformer_layer_groups_run_stem_to_head() -> None:
    from artgenre.training.optim import layer_decay_groups

    model = build_model("iformer_small", 3, 224)
    groups = layer_decay_groups(model, 0.05, 0.9)
    scale = {id(p): g["lr_scale"] for g in groups for p in g["params"]}
    named = dict(model.named_parameters())
    order = ["patch_embed.proj1.weight", "blocks1.0.norm1.weight", "patch_embed2.proj.weight",
             "blocks2.0.norm1.weight", "blocks3.0.norm1.weight", "blocks4.2.norm1.weight", "head.weight"]
    scales = [scale[id(named[n])] for n in order]
    assert scales == sorted(scales) and len(set(scales)) == len(scales) and scales[-1] == 1.0


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_builds_and_steps(name: str) -> None:
    cfg = composed(*TINY_VIT, f"optim.name={name}", "optim.layer_decay=0.8")
    model = build_model("vit_scratch", 3, 16, embed_dim=16, depth=1, num_heads=2, patch_size=8)
    optimizer = build_optimizer(model, cfg.optim)
    before = model.head.weight.detach().clone()
    F.cross_entropy(model(torch.randn(4, 3, 16, 16)), torch.tensor([0, 1, 2, 0])).backward()
    optimizer.step()
    assert not torch.equal(before, model.head.weight)


# ------------------------------------------------------------------ early stopping
def rows(*accs: float, key: str = "val_acc") -> list[dict]:
    return [{"epoch": i + 1, key: a} for i, a in enumerate(accs)]


def test_early_stopping_waits_patience_epochs_after_the_best() -> None:
    assert early_stopping.check(rows(10, 20, 15, 18), "val_acc", patience=3, min_delta=0) is None
    stop = early_stopping.check(rows(10, 20, 15, 18, 20), "val_acc", patience=3, min_delta=0)
    assert stop is not None and (stop.best_epoch, stop.stopped_after_epoch, stop.best) == (2, 5, 20)
    assert "patience 3" in stop.reason
    # a gain no larger than min_delta is no improvement
    assert early_stopping.check(rows(10, 10.5, 10.9), "val_acc", patience=2, min_delta=1.0).best_epoch == 1
    assert early_stopping.check(rows(10, 5, 5, 5), "val_acc", patience=0, min_delta=0) is None
    assert early_stopping.check(rows(1, 9, 2, key="val_acc_ema"), "val_acc_ema", 1, 0).best_epoch == 2


# ------------------------------------------------------------------ config and presets
def test_presets_compose_and_turn_the_recipes_on() -> None:
    small = composed("experiment=small_data", "model=vit_scratch")
    assert small.data.augment == "deit" and small.data.random_erasing == 0.25
    assert small.trainer.mix.mixup_alpha > 0 and small.trainer.mix.cutmix_alpha > 0
    assert small.trainer.ema.enabled and small.trainer.early_stopping.patience > 0
    distill = composed("experiment=distill", "trainer.distill.teacher=/some/teacher.pt")
    assert distill.model.name == "vit_scratch" and distill.trainer.distill.teacher == "/some/teacher.pt"
    assert distill.trainer.ema.enabled, "distill builds on small_data"
    with pytest.raises(ConfigError, match="trainer.distill.teacher"):
        composed("experiment=distill")


def test_everything_is_off_by_default() -> None:
    cfg = composed()
    t = cfg.trainer
    assert (t.mix.mixup_alpha, t.mix.cutmix_alpha, cfg.data.random_erasing) == (0.0, 0.0, 0.0)
    assert not t.ema.enabled and t.distill.teacher is None and t.early_stopping.patience == 0
    assert cfg.optim.layer_decay is None


@pytest.mark.parametrize("override, key", [
    ("trainer.mix.mixup_alpha=-1", "trainer.mix.mixup_alpha"),
    ("trainer.mix.prob=1.5", "trainer.mix.prob"),
    ("trainer.ema.decay=1.0", "trainer.ema.decay"),
    ("trainer.ema.select=best", "trainer.ema.select"),
    ("trainer.distill.kind=medium", "trainer.distill.kind"),
    ("trainer.distill.temperature=0", "trainer.distill.temperature"),
    ("data.random_erasing=2", "data.random_erasing"),
    ("optim.layer_decay=0", "optim.layer_decay"),
    ("trainer.early_stopping.patience=-1", "trainer.early_stopping.patience"),
    ("+trainer.ema.decy=0.9", "trainer.ema.decy"),
])
def test_bad_recipe_values_are_refused_naming_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        composed(override)
