"""``trainer.compile=true``: run the training step through torch.compile, and never let compiling end a run.

torch.compile can fail on a given machine for reasons that have nothing to do with the model:
no C++ compiler on a CPU node, a Triton that does not match the driver, an operator the
compiler does not support. :class:`CompileFallback` then warns once, with the first line of
the error, and goes on with the module as it is; the results are the same, only slower.

The backward pass is normally compiled lazily, at the first ``backward()``, where a failure
could not be undone under DDP; while compiling, this module asks AOTAutograd to compile it
together with the forward, so every compile error surfaces in the first forward call.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Optional

import torch
from torch import nn

log = logging.getLogger("artgenre")


def _compile_backward_eagerly() -> contextlib.AbstractContextManager:
    config = getattr(torch._functorch, "config", None)
    if config is not None and hasattr(config, "force_non_lazy_backward_lowering"):
        return config.patch(force_non_lazy_backward_lowering=True)
    return contextlib.nullcontext()  # older torch: a backward failure surfaces in backward()


def _compile_error(e: Exception) -> bool:
    """Errors of compiling, as opposed to errors of the computation itself (e.g. out of memory)."""
    from torch._dynamo.exc import TorchDynamoException

    return isinstance(e, TorchDynamoException) or type(e).__module__.startswith(("torch._inductor", "torch._dynamo"))


class CompileFallback(nn.Module):
    """``module`` compiled by torch.compile; falls back to ``module`` itself when compiling fails."""

    def __init__(self, module: nn.Module, mode: Optional[str] = None, backend: Any = "inductor",
                 is_main: bool = True) -> None:
        super().__init__()
        self.module = module  # registered: train()/eval() and parameters() reach it
        # not registered: its parameters are module's own
        self.__dict__["compiled"] = torch.compile(module, mode=mode, backend=backend)
        self.is_main = is_main
        self.fell_back = False
        self._compiled_once = False

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.fell_back:
            return self.module(*args, **kwargs)
        try:
            with _compile_backward_eagerly():
                out = self.compiled(*args, **kwargs)
        except Exception as e:
            # before the first success any error may be the compiler's; after it only the compiler's
            # own (a recompilation for a new batch shape) are taken for one
            if self._compiled_once and not _compile_error(e):
                raise
            self._fall_back(e)
            return self.module(*args, **kwargs)
        self._compiled_once = True
        return out

    def _fall_back(self, error: Exception) -> None:
        self.fell_back = True
        if self.is_main:
            cause = getattr(error, "inner_exception", None) or error.__cause__ or error  # the compiler's own error
            first = (str(cause).strip().splitlines() or [""])[0]
            log.warning(f"torch.compile failed ({type(cause).__name__}: {first[:300]}); training continues "
                        "without compiling. Pass trainer.compile=false to skip the attempt.")
