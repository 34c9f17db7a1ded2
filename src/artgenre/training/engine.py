"""One training epoch and one evaluation pass, with exact metrics across ranks.

Each rank keeps running sums (loss, correct predictions, image count) on its device and
reads them once, at the end of the pass, when they are all-reduced; accuracy = total correct
/ total images, never an average of averages. Nothing inside the step loop waits for the
device: no ``.item()``, no boolean-mask indexing, no per-step synchronisation. The only reads
are the progress bar's loss every ``log_every`` steps (TensorBoard's per-step losses are read
in batches of ``log_every``), and float16's gradient scaler, which must look at the gradients.

Gradient accumulation (``accum_steps``) is exact: the micro-batches of a group are weighted by
their share of the group's images, so a group of k batches of b images takes the same step as
one batch of k * b, and the epoch's last, shorter group is the mean over the images it has.
(BatchNorm is the exception: it normalises each micro-batch by its own statistics.)
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from artgenre.runtime.distributed import all_reduce_sum
from artgenre.runtime.preemption import StopCheck, StopRequested

ContextFactory = Callable[[], contextlib.AbstractContextManager]


@dataclass
class StepContext:
    """What a training step needs besides the model and the batch."""

    device: torch.device
    autocast: ContextFactory
    scaler: Optional[torch.amp.GradScaler]
    label_smoothing: float = 0.0
    grad_clip: Optional[float] = None
    step_scheduler: Optional[torch.optim.lr_scheduler.LRScheduler] = None  # stepped after every optimizer step
    stop: Optional[StopCheck] = None  # asked after every batch whether all ranks should stop
    class_weight: Optional[Tensor] = None  # trainer.class_balance=loss: per-class weights on this device
    on_step: Optional[Callable[[Tensor, float], None]] = None  # (loss, lr) after each optimizer step
    accum_steps: int = 1  # micro-batches per optimizer step
    log_every: int = 50  # batches between the progress bar's reads of the loss (a device sync)
    no_sync: ContextFactory = contextlib.nullcontext  # DDP's no_sync: micro-batches before a group's last
    params: list[nn.Parameter] = field(default_factory=list)  # what grad_clip clips; empty: the optimizer's
    recipe: Optional[Any] = None  # training.recipes.BatchRecipe: mixing, erasing, distillation; None: plain
    on_update: Optional[Callable[[], None]] = None  # after each optimizer step (the weight average)


def _disable(progress: bool) -> Optional[bool]:
    return None if progress else True  # None: tqdm shows the bar on a terminal only, not in log files


def _sums(device: torch.device) -> Tensor:
    return torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, correct, count


def _finish(sums: Tensor) -> dict[str, float]:
    loss, correct, count = all_reduce_sum(sums.cpu()).tolist()
    return {"loss": loss / max(count, 1), "acc": 100.0 * correct / max(count, 1), "n": int(count)}


def batch_sizes(loader: Iterable) -> list[int]:
    """The sizes of the batches ``loader`` will yield, without loading any."""
    sizes = getattr(loader, "batch_sizes", None)
    if sizes is not None:
        return list(sizes() if callable(sizes) else sizes)
    if isinstance(loader, Sequence):  # in-memory (images, labels) pairs
        return [len(labels) for _, labels in loader]
    raise TypeError("gradient accumulation needs the batch sizes in advance: pass a DeviceBatches, "
                    "a DataLoader wrapper with batch_sizes(), or a list of batches")


def group_sizes(sizes: Sequence[int], accum_steps: int) -> list[int]:
    """Images per optimizer step: consecutive groups of ``accum_steps`` batches, the last one possibly shorter."""
    return [sum(sizes[i : i + accum_steps]) for i in range(0, len(sizes), accum_steps)]


def optimizer_steps(num_batches: int, accum_steps: int) -> int:
    return -(-num_batches // accum_steps)


def _params(optimizer: torch.optim.Optimizer) -> list[Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]


def train_one_epoch(
    model: nn.Module,
    loader: Iterable,
    optimizer: torch.optim.Optimizer,
    ctx: StepContext,
    num_real: int,
    progress: bool = False,
    desc: str = "train",
) -> dict[str, float]:
    """Train for one pass over ``loader``; metrics count the first ``num_real`` samples of this rank only.

    Later samples are the sampler's padding (repeats that keep the ranks in step): they are
    trained on, like DistributedSampler's, but not counted twice in the metrics. Returns the
    epoch's loss, accuracy, image count, seconds, and ``data_seconds``: the time spent waiting
    for the next batch (input-bound when it is a large share of ``seconds``).
    """
    model.train()
    k = max(1, ctx.accum_steps)
    sizes = batch_sizes(loader) if k > 1 else None
    groups = group_sizes(sizes, k) if sizes is not None else None
    params = ctx.params or _params(optimizer)
    sums = _sums(ctx.device)
    seen, data_seconds, group_loss = 0, 0.0, None
    start = time.perf_counter()
    bar = tqdm(total=len(loader) if hasattr(loader, "__len__") else None, desc=desc, leave=False,
               dynamic_ncols=True, disable=_disable(progress))
    batches = iter(loader)
    step = 0
    try:
        while True:
            tic = time.perf_counter()
            try:
                images, labels = next(batches)
            except StopIteration:
                break
            data_seconds += time.perf_counter() - tic
            images = images.to(ctx.device, non_blocking=True)
            labels = labels.to(ctx.device, non_blocking=True)
            targets = None
            if ctx.recipe is not None:
                images, targets = ctx.recipe.prepare(images, labels)
            position = step % k
            last_in_group = position == k - 1 or (sizes is not None and step == len(sizes) - 1)
            # the images of this optimizer step, over which the loss is averaged
            denominator = groups[step // k] if groups is not None else len(labels)
            sync = contextlib.nullcontext() if last_in_group else ctx.no_sync()
            with sync:
                with ctx.autocast():
                    logits = model(images)
                    if ctx.recipe is None:
                        losses = F.cross_entropy(logits.float(), labels, weight=ctx.class_weight,
                                                 label_smoothing=ctx.label_smoothing, reduction="none")
                    else:
                        losses = ctx.recipe.losses(logits, images, labels, targets, ctx.class_weight,
                                                   ctx.label_smoothing)
                loss = losses.sum() / denominator
                if position == 0:
                    optimizer.zero_grad(set_to_none=True)
                (ctx.scaler.scale(loss) if ctx.scaler is not None else loss).backward()
            group_loss = loss.detach() if position == 0 else group_loss + loss.detach()
            if last_in_group:
                _optimizer_step(optimizer, ctx, params)
                if ctx.on_update is not None:
                    ctx.on_update()
                if ctx.on_step is not None:
                    ctx.on_step(group_loss, optimizer.param_groups[0]["lr"])  # the lr this step used
                if ctx.step_scheduler is not None:
                    ctx.step_scheduler.step()

            with torch.no_grad():  # counted on the device: a mask, not indexing (which would sync)
                real = ((seen + torch.arange(len(labels), device=ctx.device)) < num_real).double()
                sums[0] += (losses.detach().double() * real).sum()
                scored = labels if ctx.recipe is None else ctx.recipe.scored_labels(labels, targets)
                sums[1] += ((logits.detach().argmax(1) == scored).double() * real).sum()
                sums[2] += real.sum()
            seen += len(labels)
            bar.update(1)
            if not bar.disable and step % ctx.log_every == 0:  # reading the loss waits for the device
                bar.set_postfix(loss=f"{losses.detach().mean().item():.3f}")
            if ctx.stop is not None and ctx.stop.after_step(step):
                # the half-trained epoch is dropped: a resumed run repeats it from last.pt
                raise StopRequested()
            step += 1
    finally:
        bar.close()
    result = _finish(sums)
    result["seconds"] = time.perf_counter() - start
    result["data_seconds"] = data_seconds
    return result


def _optimizer_step(optimizer: torch.optim.Optimizer, ctx: StepContext, params: list[Tensor]) -> None:
    if ctx.scaler is not None:
        ctx.scaler.unscale_(optimizer)
    if ctx.grad_clip:
        nn.utils.clip_grad_norm_(params, ctx.grad_clip)  # returns the norm as a tensor: no sync
    if ctx.scaler is not None:
        ctx.scaler.step(optimizer)  # float16 only: skips the step when a gradient overflowed
        ctx.scaler.update()
    else:
        optimizer.step()


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable,
    device: torch.device,
    num_classes: int,
    autocast: ContextFactory = contextlib.nullcontext,
    progress: bool = False,
    keep_logits: bool = False,
) -> dict[str, float]:
    """Loss, top-1 and balanced accuracy over every image of ``loader``'s shards on all ranks.

    Pass the bare model, not the DDP wrapper: ranks may hold different numbers of batches,
    and DDP's forward would wait for the others. ``keep_logits``: also this rank's logits, in its
    loader's order, as ``result["logits"]`` (float32, on the CPU; copied once, after the pass).
    """
    kept: list[Tensor] = []
    model.eval()
    sums = _sums(device)
    per_class = torch.zeros(2, num_classes, dtype=torch.float64, device=device)  # correct, count
    start = time.perf_counter()
    for images, labels in tqdm(loader, desc="val", leave=False, dynamic_ncols=True, disable=_disable(progress)):
        images = images.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        with autocast():
            logits = model(images)
        hit = (logits.argmax(1) == labels).double()
        sums[0] += F.cross_entropy(logits.float(), labels, reduction="sum").double()
        sums[1] += hit.sum()
        sums[2] += len(labels)
        per_class[0].index_add_(0, labels, hit)
        per_class[1].index_add_(0, labels, torch.ones_like(hit))
        if keep_logits:
            kept.append(logits.float())
    result = _finish(sums)
    if keep_logits:
        result["logits"] = torch.cat(kept).cpu() if kept else torch.zeros(0, num_classes)
    correct, count = all_reduce_sum(per_class.cpu())
    present = count > 0
    result["acc_balanced"] = 100.0 * (correct[present] / count[present]).mean().item() if present.any() else 0.0
    result["per_class_acc"] = [100.0 * c / n if n else float("nan") for c, n in zip(correct.tolist(), count.tolist())]
    result["seconds"] = time.perf_counter() - start
    return result
