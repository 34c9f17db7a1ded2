"""Where a trained model looks: class heatmaps of paintings, by the method its family registers.

Each model family names, beside its builder (models/*.py, ``explain=`` of its registry entry),
the layer a heatmap method reads and how that layer's output becomes a (B, C, H, W) map; the
methods themselves are the ``grad-cam`` package's (pytorch-grad-cam), not hooks written here.
docs/explain.md says which method each family gets and why.

    explainer = Explainer.from_checkpoint("run/checkpoints/best.pt")
    for item in explainer.explain_files(["painting.jpg", "folder/"], extra=None):
        item.heatmaps["Pablo Picasso"]  # H x W floats in [0, 1], 1 where the class gains most
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np
import torch
from torch import nn

from artgenre.errors import ConfigError, DataError
from artgenre.evaluation.images import expand_inputs, folder_datasets
from artgenre.evaluation.restore import input_for, model_from_checkpoint, run_dir_of, training_config
from artgenre.models import ExplainTarget, explain_spec
from artgenre.rundir import checkpoint
from artgenre.runtime.device import resolve_device

# method name -> pytorch_grad_cam class; each weighs the target layer's activations by the
# gradient of one class score, so each map is of that class (no class-agnostic methods here)
METHODS: dict[str, str] = {
    "gradcam": "GradCAM",  # channel weights = spatially averaged gradients (Selvaraju et al. 2017)
    "hirescam": "HiResCAM",  # gradient x activation per position, summed over channels (Draelos & Carin 2020)
    "gradcam++": "GradCAMPlusPlus",  # higher-order channel weights (Chattopadhyay et al. 2018)
    "layercam": "LayerCAM",  # positive gradients x activations per position (Jiang et al. 2021)
    "xgradcam": "XGradCAM",  # activation-normalised gradient weights (Fu et al. 2020)
}
METHOD_CHOICES = ("auto", *METHODS)
BATCH_SIZE = 16


def _cam_class(method: str) -> type:
    if method not in METHODS:
        raise ConfigError(f"method={method} is not one of: {', '.join(METHOD_CHOICES)}")
    try:
        import pytorch_grad_cam
    except ImportError:
        raise ConfigError("heatmaps need the grad-cam package: pip install 'artgenre[explain]'") from None
    return getattr(pytorch_grad_cam, METHODS[method])


def heatmaps(model: nn.Module, target: ExplainTarget, inputs: torch.Tensor, class_indices: Sequence[int],
             method: str = "gradcam") -> np.ndarray:
    """(B, H, W) float32 maps in [0, 1] at the input's size: where image i most raises the score
    (logit) of class ``class_indices[i]``, by ``method`` at ``target``; each map scaled to its own max."""
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    cam_class = _cam_class(method)
    with torch.enable_grad(), cam_class(model=model, target_layers=target.layers,
                                        reshape_transform=target.reshape) as cam:
        maps = cam(input_tensor=inputs, targets=[ClassifierOutputTarget(int(c)) for c in class_indices])
    return np.nan_to_num(np.asarray(maps, dtype=np.float32))


@dataclass
class Explanation:
    path: str
    image: Optional[np.ndarray] = None  # H x W x 3 uint8: the painting as the model saw it
    top: list[tuple[str, float]] = field(default_factory=list)  # (class, probability), best first
    heatmaps: dict[str, np.ndarray] = field(default_factory=dict)  # class -> H x W in [0, 1]; predicted first
    probabilities: dict[str, float] = field(default_factory=dict)  # of the classes in heatmaps
    error: Optional[str] = None

    @property
    def predicted(self) -> str:
        return self.top[0][0]


def class_from_folder(path: str, classes: Sequence[str]) -> Optional[str]:
    """The class an image's folder is named after: ``Pablo_Picasso/`` -> "Cubism (Pablo Picasso)"
    (the whole class name or the part in brackets, ignoring case and underscores), if any."""
    def norm(text: str) -> str:
        return " ".join(text.replace("_", " ").split()).casefold()

    folder = norm(Path(path).parent.name)
    for name in classes:
        bracketed = name[name.find("(") + 1:name.rfind(")")] if name.endswith(")") and "(" in name else None
        if folder in (norm(name), norm(bracketed or name)):
            return name
    return None


def manifest_classes(run_dir: Path, data_root: str) -> dict[str, str]:
    """Resolved path -> class name of every image of the run's split.csv (its labelled data set)."""
    from artgenre.rundir.split import read_split_csv

    split_csv = run_dir / "split.csv"
    if not split_csv.is_file():
        return {}
    root = Path(data_root).expanduser()
    return {str((root / row["path"]).resolve()): row["class_name"] for row in read_split_csv(split_csv)
            if row.get("class_name")}


class Explainer:
    """A checkpoint's model, its inputs and its family's heatmap target, ready to explain images."""

    def __init__(self, checkpoint_path: str | Path, device: str = "auto", method: str = "auto") -> None:
        self.device = resolve_device(device, setting="device")
        state = checkpoint.load(checkpoint_path)
        self.cfg = training_config(state)
        self.classes: list[str] = list(state["classes"])
        self.model = model_from_checkpoint(state, self.cfg, self.device)
        spec = explain_spec(self.cfg.model.name)
        self.method = spec.method if method == "auto" else method
        _cam_class(self.method)  # an unknown method or a missing package fails before any image is read
        self.target = spec.target(self.model)
        self.to_input = input_for(self.model, self.cfg, self.device)
        self.run_dir = run_dir_of(Path(checkpoint_path))
        self._manifest: Optional[dict[str, str]] = None

    def true_class(self, path: str) -> Optional[str]:
        """The image's class: from the run's split.csv if it is one of its images, else its folder's name."""
        if self._manifest is None:
            self._manifest = manifest_classes(self.run_dir, self.cfg.data.root)
        named = self._manifest.get(str(Path(path).resolve()))
        return named if named in self.classes else class_from_folder(path, self.classes)

    def class_index(self, name: str) -> int:
        if name not in self.classes:
            raise ConfigError(f"target={name}: not a class of this model; its classes: {', '.join(self.classes)}")
        return self.classes.index(name)

    def explain_files(self, inputs: Sequence[str], extra: Optional[str] = None, k: int = 3,
                      batch_size: int = BATCH_SIZE) -> Iterator[Explanation]:
        """One Explanation per image of ``inputs`` (files or folders), in order; a file that cannot be
        read comes back with its error. ``extra``: None, "true" (the image's class in the run's
        split.csv, else the class its folder is named after) or a class name, whose heatmap is drawn beside the predicted class's."""
        items = [Explanation(path, error=error) for path, error in expand_inputs(inputs)]
        datasets = folder_datasets(self.cfg, [e.path for e in items if not e.error])
        batch: list[tuple[Explanation, torch.Tensor]] = []
        for item in items:
            if not item.error:
                dataset, position = datasets[str(Path(item.path).parent)]
                try:
                    batch.append((item, dataset[position[Path(item.path).name]][0]))
                except DataError as e:
                    item.error = "cannot read image: " + str(e).split(": ", 1)[-1]
            if len(batch) == batch_size:
                self._explain_batch(batch, extra, k)
                batch = []
        if batch:
            self._explain_batch(batch, extra, k)
        yield from items

    def explain_images(self, images: torch.Tensor, extra: Sequence[Optional[str]], k: int = 3
                       ) -> list[tuple[list[tuple[str, float]], dict[str, np.ndarray], dict[str, float]]]:
        """For uint8 (B, 3, H, W) images: the top-k (class, probability), the heatmaps of the
        predicted class and of ``extra[i]`` (a class name, or None), and those classes' probabilities."""
        inputs = self.to_input(images)
        with torch.no_grad():
            probs = torch.softmax(self.model(inputs).float(), dim=1).cpu()
        top_p, top_i = probs.topk(min(k, len(self.classes)), dim=1)
        tops = [[(self.classes[i], p) for p, i in zip(ps, idx)] for ps, idx in zip(top_p.tolist(), top_i.tolist())]
        wanted = [[top[0][0]] + ([e] if e and e != top[0][0] else []) for top, e in zip(tops, extra)]
        maps: list[dict[str, np.ndarray]] = [{} for _ in tops]
        for rank in range(max(len(w) for w in wanted)):  # the predicted classes, then the extra ones
            rows = [i for i, w in enumerate(wanted) if len(w) > rank]
            drawn = heatmaps(self.model, self.target, inputs[rows], [self.class_index(wanted[i][rank]) for i in rows],
                             self.method)
            for i, heat in zip(rows, drawn):
                maps[i][wanted[i][rank]] = heat
        shown = [{name: float(probs[i, self.classes.index(name)]) for name in m} for i, m in enumerate(maps)]
        return list(zip(tops, maps, shown))

    def _explain_batch(self, batch: list[tuple[Explanation, torch.Tensor]], extra: Optional[str], k: int) -> None:
        images = torch.stack([image for _, image in batch])
        asked = [self.true_class(item.path) if extra == "true" else extra for item, _ in batch]
        for (item, image), (top, maps, shown) in zip(batch, self.explain_images(images, asked, k)):
            item.image = image.permute(1, 2, 0).numpy()
            item.top, item.heatmaps, item.probabilities = top, maps, shown
