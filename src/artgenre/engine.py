"""One training epoch and one evaluation pass, with exact metrics across ranks.

Each rank keeps running sums (loss, correct predictions, image count) on its device,
without a host synchronisation per step; at the end of the pass the sums are
all-reduced once. Accuracy = total correct / total images, never an average of averages.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from artgenre.distributed import all_reduce_sum
from artgenre.preemption import StopCheck, StopRequested


@dataclass
class StepContext:
    """What a training step needs besides the model and the batch."""

    device: torch.device
    autocast: Callable[[], contextlib.AbstractContextManager]
    scaler: Optional[torch.amp.GradScaler]
    label_smoothing: float = 0.0
    grad_clip: Optional[float] = None
    step_scheduler: Optional[torch.optim.lr_scheduler.LRScheduler] = None  # stepped after every step
    stop: Optional[StopCheck] = None  # asked after every step whether all ranks should stop
    class_weight: Optional[Tensor] = None  # trainer.class_balance=loss: per-class weights on this device
    on_step: Optional[Callable[[Tensor, float], None]] = None  # (loss, lr) after each step, e.g. TensorBoard


def _disable(progress: bool) -> Optional[bool]:
    return None if progress else True  # None: tqdm shows the bar on a terminal only, not in log files


def _sums(device: torch.device) -> Tensor:
    return torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, correct, count


def _finish(sums: Tensor) -> dict[str, float]:
    loss, correct, count = all_reduce_sum(sums.cpu()).tolist()
    return {"loss": loss / max(count, 1), "acc": 100.0 * correct / max(count, 1), "n": int(count)}


def train_one_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    ctx: StepContext,
    num_real: int,
    progress: bool = False,
    desc: str = "train",
) -> dict[str, float]:
    """Train for one pass over ``loader``; metrics count the first ``num_real`` samples of this rank only.

    Later samples are the sampler's padding (repeats that keep the ranks in step): they are
    trained on, like DistributedSampler's, but not counted twice in the metrics.
    """
    model.train()
    sums = _sums(ctx.device)
    seen = 0
    start = time.perf_counter()
    bar = tqdm(loader, desc=desc, leave=False, dynamic_ncols=True, disable=_disable(progress))
    for step, (images, labels) in enumerate(bar):
        images = images.to(ctx.device, non_blocking=True)
        labels = labels.to(ctx.device, non_blocking=True)
        with ctx.autocast():
            logits = model(images)
            losses = F.cross_entropy(logits.float(), labels, weight=ctx.class_weight,
                                     label_smoothing=ctx.label_smoothing, reduction="none")
        loss = losses.mean()
        optimizer.zero_grad(set_to_none=True)
        if ctx.scaler is not None:
            ctx.scaler.scale(loss).backward()
            ctx.scaler.unscale_(optimizer)
        else:
            loss.backward()
        if ctx.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), ctx.grad_clip)
        if ctx.scaler is not None:
            ctx.scaler.step(optimizer)
            ctx.scaler.update()
        else:
            optimizer.step()
        if ctx.on_step is not None:
            ctx.on_step(loss.detach(), optimizer.param_groups[0]["lr"])  # the lr this step used
        if ctx.step_scheduler is not None:
            ctx.step_scheduler.step()

        real = (seen + torch.arange(len(labels), device=ctx.device)) < num_real
        seen += len(labels)
        with torch.no_grad():
            sums[0] += losses.detach()[real].sum().double()
            sums[1] += (logits.argmax(1) == labels)[real].sum().double()
            sums[2] += real.sum().double()
        if progress and step % 10 == 0:  # reading the loss syncs the device: not every step
            bar.set_postfix(loss=f"{loss.item():.3f}")
        if ctx.stop is not None and ctx.stop.after_step(step):
            # the half-trained epoch is dropped: a resumed run repeats it from last.pt
            raise StopRequested()
    result = _finish(sums)
    result["seconds"] = time.perf_counter() - start
    return result


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    device: torch.device,
    num_classes: int,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    progress: bool = False,
) -> dict[str, float]:
    """Loss, top-1 and balanced accuracy over every image of ``loader``'s shards on all ranks.

    Pass the bare model, not the DDP wrapper: ranks may hold different numbers of batches,
    and DDP's forward would wait for the others.
    """
    model.eval()
    sums = _sums(device)
    per_class = torch.zeros(2, num_classes, dtype=torch.float64, device=device)  # correct, count
    start = time.perf_counter()
    for images, labels in tqdm(loader, desc="val", leave=False, dynamic_ncols=True, disable=_disable(progress)):
        images = images.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        with autocast():
            logits = model(images)
        hit = logits.argmax(1) == labels
        sums[0] += F.cross_entropy(logits.float(), labels, reduction="sum").double()
        sums[1] += hit.sum()
        sums[2] += len(labels)
        per_class[0] += torch.bincount(labels[hit], minlength=num_classes).double()
        per_class[1] += torch.bincount(labels, minlength=num_classes).double()
    result = _finish(sums)
    correct, count = all_reduce_sum(per_class.cpu())
    present = count > 0
    result["acc_balanced"] = 100.0 * (correct[present] / count[present]).mean().item() if present.any() else 0.0
    result["per_class_acc"] = [100.0 * c / n if n else float("nan") for c, n in zip(correct.tolist(), count.tolist())]
    result["seconds"] = time.perf_counter() - start
    return result
