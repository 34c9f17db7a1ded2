"""experiment=study: the networks, inputs and optimizer the study's code ran, its figures as data, the report beside them."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf
from torch import nn

from artgenre import report
from artgenre.config import validate
from artgenre.errors import ConfigError, DataError
from artgenre.evaluation.report import write_report
from artgenre.evaluation.study import counts_for, load_figures
from artgenre.models import build_model, normalization
from artgenre.rundir.metrics import COLUMNS
from artgenre.runtime.distributed import DistInfo
from artgenre.training.optim import build_optimizer
from artgenre.training.data import index_data
from artgenre.training.setup import build_loaders, model_options

from conftest import TINY, run_cli

# the networks behind the study's figures, with a 10-class head at 384 px
PARAMETERS = {
    "resnet50": 23_528_522,
    "vit_scratch_study": 43_570_954,
    "vit_timm": 86_098_186,
    "iformer_base": 48_428_426,
}


def study_config(*overrides: str):
    with initialize_config_module(config_module="artgenre.conf", version_base="1.3"):
        return validate(compose("train", overrides=["experiment=study", *overrides]))


def on_meta(cfg) -> nn.Module:
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        return build_model(cfg.model.name, 10, cfg.data.image_size, **model_options(cfg))


@pytest.mark.parametrize("name", list(PARAMETERS))
def test_each_family_builds_the_network_the_study_ran(name: str) -> None:
    cfg = study_config(f"model={name}")
    model = on_meta(cfg)
    assert sum(p.numel() for p in model.parameters()) == PARAMETERS[name]
    assert cfg.model.drop_path == 0.0 and cfg.model.pretrained is None
    rates = [m.p if hasattr(m, "p") else m.drop_prob for m in model.modules() if "DropPath" in type(m).__name__]
    assert all(r == 0.0 for r in rates), "no stochastic depth anywhere"
    if name == "vit_timm":
        assert model.pretrained_cfg["architecture"] == "vit_base_patch16_384" and model.head.out_features == 10
    if name == "vit_scratch_study":
        assert len(model.blocks) == 6 and model.blocks[0].attn.num_heads == 6 and cfg.model.init == "study"
    if name == "iformer_base":
        assert [len(model.blocks1), len(model.blocks2), len(model.blocks3), len(model.blocks4)] == [4, 6, 14, 6]


def test_recipe_is_the_study_code_s() -> None:
    cfg = study_config("model=resnet50")
    assert (cfg.data.image_size, cfg.data.augment, cfg.data.normalize, cfg.data.val_fraction) == (384, "none", False, 0.15)
    assert (cfg.optim.name, cfg.optim.lr, cfg.optim.weight_decay, list(cfg.optim.betas)) == ("adamw", 8e-4, 0.01, [0.9, 0.999])
    assert cfg.optim.decay_all is True
    assert (cfg.sched.name, cfg.sched.warmup_epochs) == ("constant", 0.0)
    t = cfg.trainer
    assert (t.batch_size, t.epochs, t.seed, t.precision, t.num_workers) == (32, 50, 9, "32", 4)
    assert (t.label_smoothing, t.class_balance, t.grad_clip, t.accum_steps) == (0.0, "none", None, 1)


def test_the_twelve_block_vit_is_one_override_away() -> None:
    cfg = study_config("model=vit_scratch", "model.init=study")
    assert (cfg.model.depth, cfg.model.num_heads, cfg.model.init) == (12, 12, "study")


@pytest.mark.parametrize("name", list(PARAMETERS))
def test_every_parameter_is_decayed(name: str) -> None:
    model = on_meta(study_config(f"model={name}"))
    optimizer = build_optimizer(model, study_config(f"model={name}").optim)
    decayed = [p for g in optimizer.param_groups if g["weight_decay"] == 0.01 for p in g["params"]]
    exempt = [p for g in optimizer.param_groups if g["weight_decay"] != 0.01 for p in g["params"]]
    assert exempt == [] and {id(p) for p in decayed} == {id(p) for p in model.parameters()}
    assert len(decayed) == len(list(model.parameters()))


def test_without_decay_all_biases_norms_and_embeddings_are_exempt() -> None:
    with initialize_config_module(config_module="artgenre.conf", version_base="1.3"):
        cfg = validate(compose("train", overrides=["model=vit_scratch_study"]))
    model = on_meta(cfg)
    groups = build_optimizer(model, cfg.optim).param_groups
    exempt = {id(p) for g in groups if g["weight_decay"] == 0.0 for p in g["params"]}
    assert id(model.cls_token) in exempt and id(model.pos_embed) in exempt and id(model.norm.bias) in exempt
    assert id(model.head.weight) not in exempt


def _study_order_reference(dim: int, depth: int, patch: int, classes: int) -> list[torch.Tensor]:
    """The layers that draw random numbers, in the order the study's model constructs them,
    each with PyTorch's default initialisation: the patch convolution, then per block the
    attention's qkv and projection and the MLP's two layers, then the head."""
    layers: list[nn.Module] = [nn.Conv2d(3, dim, patch, patch)]
    for _ in range(depth):
        layers += [nn.Linear(dim, 3 * dim), nn.Linear(dim, dim), nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)]
    layers.append(nn.Linear(dim, classes))
    return [t for layer in layers for t in (layer.weight, layer.bias)]


def test_study_initialisation_is_pytorch_default_with_zero_tokens() -> None:
    shape = dict(embed_dim=32, depth=2, num_heads=2, patch_size=8)
    torch.manual_seed(9)
    model = build_model("vit_scratch_study", 10, 32, **shape)
    torch.manual_seed(9)
    want = _study_order_reference(32, 2, 8, 10)
    got = [model.patch_embed.proj.weight, model.patch_embed.proj.bias]
    for block in model.blocks:
        for layer in (block.attn.qkv, block.attn.proj, block.mlp.fc1, block.mlp.fc2):
            got += [layer.weight, layer.bias]
    got += [model.head.weight, model.head.bias]
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=0, atol=0)
    assert not model.cls_token.any() and not model.pos_embed.any()
    assert all(m.weight.eq(1).all() and not m.bias.any() for m in model.modules() if isinstance(m, nn.LayerNorm))

    timm_style = build_model("vit_scratch_study", 10, 32, init="timm", **shape)
    assert not timm_style.blocks[0].attn.qkv.bias.any() and model.blocks[0].attn.qkv.bias.any()
    with pytest.raises(ConfigError, match="init 'xavier' is not one of: timm, study"):
        build_model("vit_scratch", 10, 32, init="xavier", **shape)


def test_inputs_reach_the_model_unnormalised(synthetic_root: Path) -> None:
    """The batches the training step hands the model: pixels / 255 in [0, 1], nothing subtracted or
    divided (vit_timm's own mean and std, 0.5 and 0.5, would otherwise apply)."""
    common = ["model=vit_timm", "data=synthetic", f"data.root={synthetic_root}", "data.synthetic_scale=0.05",
              "data.image_size=32", "trainer.num_workers=0", "trainer.progress=false"]
    seen = []
    for cfg in (study_config(*common), study_config(*common, "data.normalize=true")):
        image_set, split = index_data(cfg)
        mean, std = normalization(on_meta(cfg))  # the model's own: what data.normalize=true would use
        assert (mean, std) == ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
        data = build_loaders(cfg, DistInfo(), image_set, split, mean, std, torch.device("cpu"))
        images, _ = next(iter(data.train))
        seen.append(images)
    raw, normalised = seen
    assert raw.dtype == torch.float32 and raw.min() >= 0.0 and raw.max() <= 1.0 and raw.max() > 0.5
    torch.testing.assert_close(raw * 255, (raw * 255).round(), rtol=0, atol=1e-4)  # k/255, as ToTensor gives
    torch.testing.assert_close(normalised, (raw - 0.5) / 0.5, rtol=0, atol=1e-5)  # the same images, normalised


# ---------------------------------------------------------------- the study's figures, shipped
def test_shipped_figures_are_rank_zero_counts() -> None:
    figures = load_figures()
    val = {f.model: f for f in figures if f.metric == "val_acc" and f.epoch == 50}
    assert {m: (f.published, f.correct, f.total) for m, f in val.items()} == {
        "vit_scratch_study": ("47.9", 69, 144), "vit_timm": ("38.9", 56, 144),
        "resnet50": ("72.9", 105, 144), "iformer_base": ("72.2", 104, 144)}
    for f in figures:
        if f.metric.endswith("_acc"):
            assert f.total == {"train_acc": 814, "val_acc": 144}[f.metric]
            assert counts_for(f.published, f.total) == [f.correct]
            assert f"{f.value:.{len(f.published.split('.')[1])}f}" == f.published
    times = {f.model: float(f.published) for f in figures if f.metric == "train_time_s"}
    assert times == {"vit_scratch_study": 24.3, "vit_timm": 40.1, "resnet50": 18.9, "iformer_base": 45.9}


def test_a_count_that_does_not_give_its_figure_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "figures.csv"
    bad.write_text("model,label,figure,metric,epoch,published,correct,total\n"
                   "resnet50,ResNet-50,8,val_acc,50,72.9,104,144\n")
    with pytest.raises(DataError, match="104/144 = 72.2222% does not print as 72.9"):
        load_figures(bad)


def fake_run(folder: Path, model: str, epochs: int) -> Path:
    """A run directory as training leaves it, with made-up numbers: accuracy = epoch, times apart."""
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text(f"model:\n  name: {model}\ndata:\n  image_size: 384\n")
    values = {"train_acc": 1.0, "val_acc": 1.0, "epoch_time_s": 0.0, "train_time_s": 0.0}
    with (folder / "metrics.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for e in range(1, epochs + 1):
            row = {"epoch": e, "train_acc": e + 0.5, "val_acc": e, "epoch_time_s": 30.0 + e, "train_time_s": 20.0 + e}
            w.writerow([row.get(c, values.get(c, 1.0)) for c in COLUMNS])
    return folder


def read_table(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_report_sets_runs_beside_the_study(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sweep = tmp_path / "study-1"
    fake_run(sweep / "resnet50", "resnet50", 50)
    fake_run(sweep / "vit_scratch", "vit_scratch", 20)  # the 12/12 ViT stands beside the 6/6 one's figures
    fake_run(sweep / "convnext", "timm", 50)  # no study counterpart: no study column
    out = tmp_path / "report"
    report.main([str(sweep), "-o", str(out), "--study"])

    val = read_table(out / "val_acc.csv")
    study_resnet = "study: ResNet-50 (rank 0, 144 of 288 val images)"
    header = list(val[0])
    assert header[header.index("resnet50") + 1] == study_resnet, "the study's column next to the run's"
    assert [r["epoch"] for r in val] == ["10", "20", "30", "40", "50"]
    last = val[-1]
    assert float(last["resnet50"]) == 50.0 and float(last[study_resnet]) == pytest.approx(100 * 105 / 144)
    assert last[f"{study_resnet} count"] == "105/144"
    assert last["vit_scratch"] == "" and last["study: ViT from scratch, 6 blocks, 6 heads (rank 0, 144 of 288 val images)"]
    assert not header[header.index("timm") + 1].startswith("study: ")  # no counterpart: no study column

    times = read_table(out / "epoch_time.csv")
    assert [float(r["resnet50"]) for r in times[:5]] == [30.0, 40.0, 50.0, 60.0, 70.0]  # train_time_s, not epoch_time_s
    mean_row = times[-1]
    assert mean_row["resnet50"] and float(mean_row["resnet50"]) == pytest.approx(20 + 25.5)
    assert float(mean_row["study: ResNet-50 (2x Quadro RTX 8000, float32)"]) == 18.9

    text = (out / "report.md").read_text()
    assert "| 72.9 (105/144) |" in text and "144 of the 288 validation images" in text
    assert "2x Quadro RTX 8000, float32" in text and "training loop" in text
    assert "## The study's published figures" in text and "`train_acc`" in text  # says what is missing
    assert "report:" in capsys.readouterr().out


def test_report_without_study_has_no_study_columns(tmp_path: Path) -> None:
    fake_run(tmp_path / "run", "resnet50", 10)
    write_report([tmp_path / "run"], tmp_path / "out")
    assert list(read_table(tmp_path / "out" / "val_acc.csv")[0]) == ["epoch", "resnet50"]
    assert "study:" not in (tmp_path / "out" / "report.md").read_text()


# ---------------------------------------------------------------- the preset, end to end
@pytest.mark.slow
def test_preset_trains_end_to_end(synthetic_root: Path, tmp_path: Path) -> None:
    tiny = [a for a in TINY if not a.startswith("model=")]
    result = run_cli(["experiment=study", "model=vit_scratch_study", *tiny, f"data.root={synthetic_root}",
                      "trainer.epochs=1", "hydra.run.dir=run"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run = tmp_path / "run"
    rows = read_table(run / "metrics.csv")
    assert [r["epoch"] for r in rows] == ["1"] and 0.0 <= float(rows[0]["val_acc"]) <= 100.0
    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    assert (cfg.data.normalize, cfg.optim.decay_all, cfg.model.init, cfg.trainer.precision) == (False, True, "study", "32")
    assert cfg.sched.name == "constant" and cfg.trainer.seed == 9
    write_report([run], tmp_path / "report", study=True)
    assert "study: ViT from scratch" in (tmp_path / "report" / "val_acc.md").read_text()


def test_resume_refuses_a_changed_decay_all_and_takes_checkpoints_from_before_it(tmp_path: Path) -> None:
    from artgenre.errors import CheckpointError
    from artgenre.training.resume import check_compatible

    with initialize_config_module(config_module="artgenre.conf", version_base="1.3"):
        plain = validate(compose("train", overrides=["model=resnet50"]))
    before = OmegaConf.to_container(plain)
    del before["optim"]["decay_all"]  # a checkpoint written before the option existed
    check_compatible(OmegaConf.create(before), plain, tmp_path / "last.pt")
    with pytest.raises(CheckpointError, match="optim.decay_all=False, this run has optim.decay_all=True"):
        check_compatible(OmegaConf.create(before), study_config("model=resnet50"), tmp_path / "last.pt")
