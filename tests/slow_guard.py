"""`slow` marks every test that trains; `pytest -m "not slow"` starts no training process.

Two halves: tests that ask for a fixture which trains (the shared 2-epoch run, the 2-process
run) are marked `slow` here, so a new test using them cannot forget it; and a test that is not
marked `slow` fails at once if it starts a training anyway (a `python -m artgenre.train` or
`torchrun` subprocess, an sbatch job, or the in-process epoch loop).
"""

from __future__ import annotations

import subprocess

import pytest

# fixtures that train (directly or through another fixture) before the test runs
TRAINING_FIXTURES = {"run_dir", "ddp_run", "sweep", "built", "trained"}
TRAINING_COMMANDS = ("artgenre.train", "torchrun", "sbatch", "artgenre-train")
# full-size models that train nothing but compute for long (each 15-70 s on a busy 2-core machine):
# in the full suite only, so that `-m "not slow"` stays near a minute
HEAVY = {
    "tests/test_drop_path.py::test_drop_path_is_stochastic_in_training_and_identity_in_eval[iformer_small]",
    "tests/test_drop_path.py::test_drop_path_is_stochastic_in_training_and_identity_in_eval[vit_timm]",
    "tests/test_drop_path.py::test_drop_path_is_stochastic_in_training_and_identity_in_eval[resnet50]",
    "tests/test_iformer.py::test_drop_path_active_in_train_mode_identity_in_eval",
    "tests/test_iformer.py::test_checkpoint_resized_for_another_size_gives_run_time_resize_logits",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if TRAINING_FIXTURES & set(getattr(item, "fixturenames", ())) or item.nodeid in HEAVY:
            item.add_marker(pytest.mark.slow)


def _command(args, kwargs) -> str:
    cmd = args[0] if args else kwargs.get("args", "")
    return cmd if isinstance(cmd, str) else " ".join(map(str, cmd))


@pytest.fixture(autouse=True)
def _no_training_unless_slow(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("slow") is not None:
        return
    name = request.node.nodeid
    real_init = subprocess.Popen.__init__

    def guarded_init(self, *args, **kwargs):
        cmd = _command(args, kwargs)
        if any(word in cmd for word in TRAINING_COMMANDS):
            pytest.fail(f"{name} starts a training process ({cmd[:120]}): mark it @pytest.mark.slow")
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", guarded_init)
    from artgenre.training import fit

    def no_epochs(*args, **kwargs):
        pytest.fail(f"{name} trains in process (fit.run_epochs): mark it @pytest.mark.slow")

    monkeypatch.setattr(fit, "run_epochs", no_epochs)
