"""torchvision's ResNet-50 (registered as ``resnet50``), with stochastic depth added.

torchvision's ResNets have no drop path; ``add_resnet_drop_path`` gives them the one timm's
ResNets have, without changing their state_dict, so torchvision's weights still load strictly.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Optional

from torch import nn

from artgenre.models import pretrained as weights_io
from artgenre.models.layers import DropPath
from artgenre.models.pretrained import WeightsRecipe
from artgenre.models.registry import ExplainSpec, ExplainTarget, check_drop_path, register


@dataclass
class ResNetOptions:
    zero_init_residual: bool = False
    drop_path: float = 0.0  # stochastic depth of the last Bottleneck, rising linearly from 0 at the first
    pretrained: Optional[str] = None  # a weights file, or true: torchvision's weights from its cache


def _drop_residual(drop: DropPath, module: nn.Module, args: Any, output: Any) -> Any:
    """Forward hook on a Bottleneck's bn3: its output is the residual branch, just before ``+= identity``."""
    return drop(output)


def add_resnet_drop_path(model: nn.Module, rate: float) -> nn.Module:
    """Stochastic depth for a torchvision ResNet, as timm's ResNets have it.

    Block i of the n residual blocks drops its residual branch (per sample, rescaled by 1/(1-p)
    in training, untouched in eval) with p = rate * i / (n - 1). The branch's last layer
    (bn3, or bn2 of a BasicBlock) gets a forward hook that passes its output through a
    ``DropPath`` kept as the block's ``drop_path`` child: that module has no parameters or
    buffers, so the state_dict keys stay torchvision's and its weights load strictly, and it
    follows ``model.train()``/``model.eval()`` like any child. The hook is a module-level
    function bound with functools.partial, so the model still pickles, deep-copies and
    compiles. ``rate == 0`` adds nothing; blocks whose own rate is 0 (the first) get nothing.
    """
    from torchvision.models.resnet import BasicBlock, Bottleneck

    check_drop_path(rate)
    blocks = [m for m in model.modules() if isinstance(m, (Bottleneck, BasicBlock))]
    for i, block in enumerate(blocks):
        p = rate * i / max(len(blocks) - 1, 1)
        if p == 0.0:
            continue
        block.drop_path = DropPath(p)
        last_norm = block.bn3 if isinstance(block, Bottleneck) else block.bn2
        last_norm.register_forward_hook(functools.partial(_drop_residual, block.drop_path))
    return model


def _build_resnet50(o: ResNetOptions, num_classes: int, image_size: int) -> nn.Module:
    from torchvision.models import resnet50

    check_drop_path(o.drop_path)
    model = resnet50(weights=None, zero_init_residual=o.zero_init_residual)
    model.fc = nn.Linear(model.fc.in_features, num_classes)  # ImageNet's 1000 classes -> ours
    return add_resnet_drop_path(model, o.drop_path)


def _explain_target(model: nn.Module) -> ExplainTarget:
    return ExplainTarget([model.layer4[-1]])  # the last feature map (12x12 at 384 px) before the average pool


RESNET_EXPLAIN = ExplainSpec(
    "gradcam", _explain_target,
    why="Grad-CAM on the last Bottleneck: its map is average-pooled into a linear head, where Grad-CAM is exact CAM",
)

register(
    "resnet50", _build_resnet50, ResNetOptions(), "torchvision ResNet-50, final layer replaced",
    # a convnet has no position embeddings: any image size takes the weights as they are
    weights=WeightsRecipe(library_file=lambda o, image_size: weights_io.torchvision_cached_file("resnet50"),
                          classifier="fc"),
    explain=RESNET_EXPLAIN,
)
