"""The data a run trains and validates on: rank 0 prepares the manifest, every rank uses its result."""

from __future__ import annotations

import logging

from omegaconf import DictConfig

from artgenre.data.listing import ImageSet
from artgenre.data.manifest import prepare_once, report
from artgenre.runtime import distributed

log = logging.getLogger("artgenre")


def index_data(cfg: DictConfig) -> tuple[ImageSet, list[str]]:
    """The image list and its train/val(/test) split from the manifest, which rank 0 prepares when
    it is missing or out of date and hands to every rank; the same in every later run."""
    prepared = prepare_once(cfg, progress=cfg.trainer.progress)
    if distributed.env_info().is_main:
        for line in report(prepared, full=not prepared.reused):
            log.info(line)
    return prepared.image_set(), prepared.split
