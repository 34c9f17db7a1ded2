"""The training step's switches, each against the plain path it must equal (or approach).

Gradient accumulation, mixed precision, channels-last, torch.compile (and its fallback),
gradient clipping, and the promise that the step loop never waits for the device.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import traceback
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from artgenre.runtime import precision
from artgenre.runtime.compilation import CompileFallback
from artgenre.training.engine import StepContext, batch_sizes, group_sizes, optimizer_steps, train_one_epoch

CPU = torch.device("cpu")


def tiny_convnet(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.GELU(), nn.Conv2d(8, 8, 3, stride=2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))


def batches_of(x: torch.Tensor, y: torch.Tensor, size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x[i : i + size], y[i : i + size]) for i in range(0, len(y), size)]


def data(n: int = 22, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 12, 12, generator=g), torch.randint(0, 5, (n,), generator=g)


def ctx_for(numerics: precision.Precision = precision.resolve("32", CPU), **kw) -> StepContext:
    return StepContext(device=CPU, autocast=numerics.autocast_factory, scaler=numerics.scaler(), **kw)


def train(model: nn.Module, batches, ctx: StepContext, optimizer_cls=torch.optim.SGD, epochs: int = 1, **opt_kw):
    optimizer = optimizer_cls(model.parameters(), **(opt_kw or {"lr": 0.1}))
    results = [train_one_epoch(model, batches, optimizer, ctx, num_real=sum(len(b[1]) for b in batches))
               for _ in range(epochs)]
    return results


def max_param_diff(a: nn.Module, b: nn.Module) -> float:
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters()))


# ------------------------------------------------------------------ gradient accumulation
def test_group_bookkeeping() -> None:
    assert group_sizes([4, 4, 4, 4, 4, 2], 3) == [12, 10]
    assert group_sizes([4, 4, 3], 1) == [4, 4, 3]
    assert optimizer_steps(6, 3) == 2 and optimizer_steps(7, 3) == 3 and optimizer_steps(5, 1) == 5
    x, y = data()
    assert batch_sizes(batches_of(x, y, 4)) == [4, 4, 4, 4, 4, 2]


@pytest.mark.parametrize("optimizer_cls, opt_kw", [(torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
                                                    (torch.optim.AdamW, {"lr": 0.01})])
def test_accumulation_equals_one_large_batch_also_for_the_short_last_group(optimizer_cls, opt_kw) -> None:
    """22 images: micro-batches of 4 in groups of 3 (12 + 10 images) take the steps that batches of 12
    (12 + 10) take, including the last, shorter group: the loss is the mean over the group's images."""
    x, y = data(22)
    big, small = tiny_convnet(), tiny_convnet()
    ref = train(big, batches_of(x, y, 12), ctx_for(), optimizer_cls, epochs=2, **opt_kw)
    acc = train(small, batches_of(x, y, 4), ctx_for(accum_steps=3), optimizer_cls, epochs=2, **opt_kw)
    assert max_param_diff(big, small) < 2e-6
    assert [r["loss"] for r in acc] == pytest.approx([r["loss"] for r in ref], abs=1e-6)
    assert [r["n"] for r in acc] == [22, 22]


def test_accumulation_steps_the_scheduler_and_logs_once_per_group() -> None:
    x, y = data(22)
    model = tiny_convnet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    logged = []
    ctx = ctx_for(accum_steps=4, step_scheduler=scheduler, on_step=lambda loss, lr: logged.append(loss))
    batches = batches_of(x, y, 4)  # 6 batches: groups of 4 and 2
    train_one_epoch(model, batches, optimizer, ctx, num_real=22)
    assert scheduler.last_epoch == 2 and len(logged) == 2
    # the logged loss of a group is the mean over its images
    with torch.no_grad():
        first = F.cross_entropy(tiny_convnet()(x[:16]), y[:16])
    assert logged[0].item() == pytest.approx(first.item(), rel=1e-5)


def test_accumulation_uses_no_sync_for_all_but_the_last_micro_batch_of_a_group() -> None:
    entered = []

    @contextlib.contextmanager
    def no_sync():
        entered.append(True)
        yield

    x, y = data(22)
    train(tiny_convnet(), batches_of(x, y, 4), ctx_for(accum_steps=4, no_sync=no_sync))
    assert len(entered) == 3 + 1  # group 1: batches 1-3 of 4; group 2: batch 5 of 5-6


# ------------------------------------------------------------------ precision
@pytest.mark.slow  # trains in process for several epochs (bf16 runs 4-17x slower on CPUs without bf16 units)
@pytest.mark.parametrize("name", ["bf16", "16"])
def test_mixed_precision_on_the_cpu_learns_and_stays_close_to_float32(name: str) -> None:
    x, y = data(32)
    batches = batches_of(x, y, 8)
    ref_model, model = tiny_convnet(), tiny_convnet()
    ref = train(ref_model, batches, ctx_for(), epochs=4)
    numerics = precision.resolve(name, CPU)
    ctx = ctx_for(numerics)
    assert (ctx.scaler is not None) == (name == "16")
    got = train(model, batches, ctx, epochs=4)
    assert got[-1]["loss"] < got[0]["loss"], "the loss decreases"
    assert got[-1]["loss"] == pytest.approx(ref[-1]["loss"], abs=0.05)
    assert max_param_diff(ref_model, model) < 0.05


def test_precision_settings_resolve() -> None:
    assert precision.resolve("auto", CPU).name == "32", "bf16 is far slower than float32 on CPUs without bf16 units"
    assert precision.resolve("fp32", CPU).name == "32" and precision.resolve("fp16", CPU).name == "16"
    assert precision.resolve(32, CPU).dtype is None
    assert precision.resolve("bf16", CPU).dtype == torch.bfloat16
    assert precision.resolve("32", CPU).scaler() is None and precision.resolve("bf16", CPU).scaler() is None
    assert isinstance(precision.resolve("16", CPU).scaler(), torch.amp.GradScaler)
    with precision.resolve("bf16", CPU).autocast():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16


# ------------------------------------------------------------------ memory layout, clipping
def test_channels_last_model_and_input_give_the_same_training() -> None:
    x, y = data(16)
    ref, model = tiny_convnet(), tiny_convnet().to(memory_format=torch.channels_last)
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
    train(ref, batches_of(x, y, 8), ctx_for(), epochs=2)
    nhwc = [(b.contiguous(memory_format=torch.channels_last), t) for b, t in batches_of(x, y, 8)]
    train(model, nhwc, ctx_for(), epochs=2)
    assert max_param_diff(ref, model) < 1e-5


def test_gradient_clipping_bounds_the_step() -> None:
    x, y = data(8)
    model = tiny_convnet()
    before = [p.detach().clone() for p in model.parameters()]
    # plain SGD without momentum moves the parameters by lr * gradient: at most lr * max_norm
    train(model, [(x * 100, y)], ctx_for(grad_clip=0.01), lr=1.0)
    moved = torch.cat([(p.detach() - b).flatten() for p, b in zip(model.parameters(), before)]).norm()
    assert 0.0 < moved.item() <= 0.01 + 1e-6


# ------------------------------------------------------------------ torch.compile
def test_compile_with_a_working_backend_matches_eager() -> None:
    x, y = data(16)
    ref, model = tiny_convnet(), tiny_convnet()
    train(ref, batches_of(x, y, 8), ctx_for(), epochs=2)
    compiled = CompileFallback(model, backend="aot_eager")
    train(compiled, batches_of(x, y, 8), ctx_for(), epochs=2)
    assert not compiled.fell_back
    assert max_param_diff(ref, model) < 1e-5


def test_a_compiler_that_fails_falls_back_to_eager_with_one_warning(caplog) -> None:
    def broken_backend(graph_module, example_inputs):
        raise RuntimeError("no C++ compiler found (simulated)")

    x, y = data(16)
    ref, model = tiny_convnet(), tiny_convnet()
    train(ref, batches_of(x, y, 8), ctx_for(), epochs=2)
    compiled = CompileFallback(model, backend=broken_backend)
    with caplog.at_level(logging.WARNING, logger="artgenre"):
        train(compiled, batches_of(x, y, 8), ctx_for(), epochs=2)
    assert compiled.fell_back
    warnings = [r.getMessage() for r in caplog.records if "torch.compile failed" in r.getMessage()]
    assert len(warnings) == 1 and "no C++ compiler found" in warnings[0] and "trainer.compile=false" in warnings[0]
    assert max_param_diff(ref, model) == 0.0, "the fallback trains exactly like eager"


def test_an_error_of_the_model_itself_is_not_hidden_by_the_fallback() -> None:
    compiled = CompileFallback(tiny_convnet(), backend="eager")
    with pytest.raises(RuntimeError):
        compiled(torch.randn(2, 4, 12, 12))  # 4 channels into a 3-channel convolution


# ------------------------------------------------------------------ no host synchronisation
# operators whose result (or result size) the host must wait for on a GPU
SYNCING_OPS = {"_local_scalar_dense", "nonzero", "is_nonzero", "equal", "item", "masked_select", "unique",
               "_unique2", "bincount"}


def _boolean_index(name: str, args) -> bool:
    """t[mask]: the output size depends on the mask's values (CPU kernels do it without calling nonzero)."""
    if name not in ("index", "index_put", "index_put_"):
        return False
    indices = args[1] if len(args) > 1 else []
    return any(isinstance(i, torch.Tensor) and i.dtype in (torch.bool, torch.uint8) for i in indices)


class SyncRecorder(TorchDispatchMode):
    """Records every operator that makes the host wait for a device value, with the project frame
    that asked for it. On the CPU every tensor is a host tensor, so this is how a CPU test can see
    what would stall a GPU."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name in SYNCING_OPS or _boolean_index(name, args):
            stack = traceback.extract_stack()[:-1]
            ours = [f for f in stack if "/artgenre/" in f.filename and "/tests/" not in f.filename]
            # the optimizers read their step counters, which live on the host even in a GPU run
            optimizer_counter = any("/torch/optim/" in f.filename for f in stack)
            if ours and not optimizer_counter:
                self.calls.append(f"{name} from {Path(ours[-1].filename).name}:{ours[-1].lineno} {ours[-1].line}")
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("accum_steps", [1, 3])
def test_the_step_loop_never_waits_for_the_device(accum_steps: int) -> None:
    """Only the epoch's final read of the sums syncs (the all-reduce at the end of the pass)."""
    x, y = data(40)
    model = tiny_convnet()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    logged = []
    ctx = ctx_for(accum_steps=accum_steps, grad_clip=1.0, label_smoothing=0.1,
                  class_weight=torch.ones(5), on_step=lambda loss, lr: logged.append(loss))
    recorder = SyncRecorder()
    with recorder:
        train_one_epoch(model, batches_of(x, y, 4), optimizer, ctx, num_real=37)  # 3 padding repeats
    inside_loop = [c for c in recorder.calls if "engine.py" in c and "_finish" not in c and "sums.cpu" not in c]
    assert inside_loop == [], inside_loop
    assert len(logged) == optimizer_steps(10, accum_steps)


def test_padding_repeats_are_trained_on_but_not_counted() -> None:
    x, y = data(12)
    model = tiny_convnet()
    result = train_one_epoch(model, batches_of(x, y, 4), torch.optim.SGD(model.parameters(), lr=0.1), ctx_for(),
                             num_real=9)
    assert result["n"] == 9
    assert 0.0 <= result["data_seconds"] <= result["seconds"]


def test_progress_reads_the_loss_only_every_log_every_steps(monkeypatch) -> None:
    monkeypatch.setattr("artgenre.training.engine._disable", lambda progress: False)  # a bar even without a terminal
    x, y = data(40)
    model = tiny_convnet()
    recorder = SyncRecorder()
    with recorder:
        train_one_epoch(model, batches_of(x, y, 4), torch.optim.SGD(model.parameters(), lr=0.1),
                        ctx_for(log_every=4), num_real=40, progress=True)
    reads = [c for c in recorder.calls if "set_postfix" in c]
    assert len(reads) == 3  # steps 0, 4 and 8 of 10


# ------------------------------------------------------------------ model inputs
@pytest.mark.parametrize("channels_last", [False, True])
def test_batches_come_in_the_model_layout_and_normalise_exactly(channels_last: bool) -> None:
    from artgenre.data.loading.pipeline import DeviceInput, collate

    g = torch.Generator().manual_seed(0)
    images = [torch.randint(0, 256, (9, 7, 3), dtype=torch.uint8, generator=g).permute(2, 0, 1) for _ in range(4)]
    x, labels = collate([(im, i) for i, im in enumerate(images)])
    layout = torch.channels_last if channels_last else torch.contiguous_format
    assert x.dtype == torch.uint8 and x.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(x, torch.stack(images)) and labels.tolist() == [0, 1, 2, 3]

    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    out = DeviceInput(CPU, mean, std, normalize=True, channels_last=channels_last)(x)
    expected = (x.float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    assert out.is_contiguous(memory_format=layout)
    torch.testing.assert_close(out, expected, rtol=0, atol=2e-6)
    plain = DeviceInput(CPU, mean, std, normalize=False)(x)
    torch.testing.assert_close(plain, x.float() / 255, rtol=0, atol=1e-7)
