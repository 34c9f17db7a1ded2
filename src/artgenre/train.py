"""Entry point: ``python -m artgenre.train``, ``torchrun ... -m artgenre.train``, ``artgenre-train``.

compose (Hydra) -> validate (artgenre.config) -> fit (artgenre.training.fit). Nothing else here.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from artgenre import launch
from artgenre.runtime import distributed
from artgenre.runtime import preemption
from artgenre.config import validate
from artgenre.training.fit import fit


def run(raw: DictConfig) -> float:
    cfg = validate(raw)
    if not distributed.env_info().is_main:
        logging.getLogger().setLevel(logging.WARNING)
    with preemption.stop_signals():
        return fit(cfg, Path(HydraConfig.get().runtime.output_dir))


@hydra.main(config_path="conf", config_name="train", version_base="1.3")
def hydra_app(raw: DictConfig) -> float:
    return launch.guarded(lambda: run(raw))()


def main() -> None:
    launch.guarded(launch.prepare)()
    try:
        launch.hydra_exit_codes(hydra_app)
    finally:
        distributed.shutdown()


if __name__ == "__main__":
    main()
