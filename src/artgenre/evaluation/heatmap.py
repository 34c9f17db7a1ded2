"""Drawing heatmaps: a painting with a class heatmap laid over it, the per-image figure of
artgenre-explain, and PNG bytes for the report page."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Optional

import numpy as np

COLORMAP = "turbo"  # blue (little evidence) to dark red (the strongest), drawn only as strongly as the evidence


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """H x W x 3 uint8 painting with ``heat`` (H x W, in [0, 1]) blended over it; the colour
    weighs as much as the heat, so the painting stays as it is where the model did not look."""
    from matplotlib import colormaps

    colour = colormaps[COLORMAP](np.clip(heat, 0, 1))[..., :3]
    weight = alpha * np.clip(heat, 0, 1)[..., None]
    blended = (1 - weight) * (image.astype(np.float32) / 255.0) + weight * colour
    return (np.clip(blended, 0, 1) * 255 + 0.5).astype(np.uint8)


def png_bytes(image: np.ndarray, min_side: int = 0) -> bytes:
    """PNG of an H x W x 3 uint8 image, enlarged (nearest neighbour) to at least ``min_side`` pixels."""
    from PIL import Image

    picture = Image.fromarray(image)
    if min_side and min(picture.size) < min_side:
        scale = -(-min_side // min(picture.size))
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def explanation_figure(path: Path, image: np.ndarray, heatmaps: dict[str, np.ndarray],
                       top: list[tuple[str, float]], method: str, title: Optional[str] = None,
                       probabilities: Optional[dict[str, float]] = None) -> None:
    """The painting, then one overlay per heatmap (predicted class first), the top-k underneath."""
    from matplotlib.figure import Figure

    panels = 1 + len(heatmaps)
    fig = Figure(figsize=(3.2 * panels, 4.0), layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    axes[0].imshow(image, interpolation="nearest")
    axes[0].set_title(f"{title}\nas the model saw it" if title else "as the model saw it\n", fontsize="medium")
    probability = {**dict(top), **(probabilities or {})}
    for ax, (name, heat) in zip(axes[1:], heatmaps.items()):
        ax.imshow(overlay(image, heat), interpolation="nearest")
        shown = f" ({100 * probability[name]:.1f}%)" if name in probability else ""
        ax.set_title(f"{method}\n{name}{shown}", fontsize="medium")
    for ax in axes:
        ax.set_axis_off()
    lines = [f"{rank}. {name}  {100 * p:.1f}%" for rank, (name, p) in enumerate(top, 1)]
    fig.supxlabel(f"top-{len(top)}:  " + "    ".join(lines), fontsize="medium")
    fig.savefig(path, dpi=100)
