"""The job scripts on a real Slurm: SIGUSR1 -> clean stop -> requeue -> resume; one sweep folder;
two nodes.

A throwaway two-node cluster on this one machine (munged, slurmctld, and one `slurmd -N` per
node with its own port, both at 127.0.0.1; tests/slurm/cluster.sh) runs the project's own
scripts/slurm/*.sbatch with a CPU configuration: two gloo processes, the synthetic set, a tiny ViT. Needs root and Debian's slurmctld, slurmd, slurm-client and munge
packages (.ci/run installs them); skipped otherwise. Also: the submitit launcher config composes.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pytest
from omegaconf import OmegaConf

from conftest import REPO, TINY, VENV_BIN, run_cli

# this Python's torchrun first (the jobs' own environment, env.sh, may still put .venv first); daemons live in sbin
SEARCH_PATH = os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
MISSING = [tool for tool in ("sbatch", "scontrol", "slurmctld", "slurmd", "munged")
           if shutil.which(tool, path=SEARCH_PATH) is None]
SLURM_MARKS = [
    pytest.mark.slurm,
    pytest.mark.slow,
    pytest.mark.skipif(bool(MISSING), reason=f"no Slurm here ({', '.join(MISSING)} not on PATH): "
                       "apt-get install slurmctld slurmd slurm-client munge, as .ci/run does"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the test cluster's slurmd must run as root"),
]


CLUSTER_SH = REPO / "tests" / "slurm" / "cluster.sh"
NODES = 2
SCRIPTS = REPO / "scripts" / "slurm"
# Waits are budgets measured on an idle 8-core machine; a loaded or smaller machine gets
# proportionally longer (2 cores: 4x). ARTGENRE_TEST_TIME_SCALE overrides the factor.
TIME_SCALE = max(1, int(os.environ.get("ARTGENRE_TEST_TIME_SCALE") or -(-8 // (os.cpu_count() or 1))))


def needs_slurm(test: Callable) -> Callable:
    for mark in SLURM_MARKS:
        test = mark(test)
    return test


@dataclass
class Cluster:
    root: Path  # everything the cluster and its jobs write lies below; also marks their processes
    env: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)

    def run(self, *cmd: str, cwd: Path | None = None) -> str:
        result = subprocess.run(cmd, cwd=cwd, env=self.env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{' '.join(cmd)}: {result.stderr}"
        return result.stdout

    def sbatch(self, script: str, options: list[str], overrides: list[str], cwd: Path, env: dict[str, str]) -> str:
        cmd = ["sbatch", "--parsable", "--time=10", "--mem=1G", "--gres=none", *options, str(SCRIPTS / script), *overrides]
        result = subprocess.run(cmd, cwd=cwd, env={**self.env, **env}, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().split(";")[0]

    def job(self, job_id: str) -> dict[str, str]:
        line = self.run("scontrol", "show", "job", "-o", job_id).splitlines()[0]
        return dict(item.split("=", 1) for item in line.split() if "=" in item)

    def wait(self, what: str, check: Callable[[], bool], timeout: float, log: Path | None = None) -> float:
        """Poll ``check`` until true (for up to ``timeout`` x TIME_SCALE seconds); the seconds it took."""
        timeout *= TIME_SCALE
        start = time.monotonic()
        while not check():
            if time.monotonic() - start > timeout:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n" + self.diagnostics(log))
            time.sleep(0.2)
        return time.monotonic() - start

    def diagnostics(self, log: Path | None) -> str:
        parts = []
        if log is not None and log.is_file():
            parts.append(f"--- {log.name} ---\n" + log.read_text()[-4000:])
        ctld = self.root / "cluster" / "log" / "slurmctld.log"
        if ctld.is_file():
            parts.append("--- slurmctld.log ---\n" + "\n".join(ctld.read_text().splitlines()[-20:]))
        return "\n".join(parts)


def processes_below(root: Path) -> list[int]:
    """Processes whose command line names a path below ``root``: only what this module started."""
    mine = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(root) in cmdline:
            mine.append(int(proc.name))
    return mine


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("slurm")
    env = {**os.environ, "PATH": SEARCH_PATH, "SLURM_CONF": str(root / "cluster" / "slurm.conf"),
           "ARTGENRE_TEST_TIME_SCALE": str(TIME_SCALE)}
    started = subprocess.run(["bash", str(CLUSTER_SH), "start", str(root / "cluster"), str(NODES)],
                             env=env, capture_output=True, text=True, timeout=120 * TIME_SCALE)
    cluster = Cluster(root, env)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield cluster
    finally:
        subprocess.run(["scancel", "--full", "--user", "root"], env=env, capture_output=True, timeout=60)
        subprocess.run(["bash", str(CLUSTER_SH), "stop", str(root / "cluster")], env=env, capture_output=True,
                       timeout=120)
        # proctrack/pgid does not follow torchrun's workers (each starts its own session):
        # end any of this module's processes that outlived the cluster, by pid
        for pid in processes_below(root):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if cluster.timings:
            print("\nslurm timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in cluster.timings.items()))


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


@needs_slurm
@pytest.mark.parametrize("script", ["train.sbatch", "train_multinode.sbatch"])
def test_usr1_stops_requeues_and_resumes_without_a_duplicate_epoch(
    slurm: Cluster, synthetic_root: Path, script: str
) -> None:
    work = slurm.root / script.split(".")[0]
    work.mkdir()
    epochs = 20
    if script == "train.sbatch":  # two gloo processes from the allocation's two tasks
        options, env = ["--ntasks-per-node=2", "--cpus-per-task=1"], {}
    else:  # one torchrun per node through srun; ARTGENRE_NPROC for a node without GPUs
        options, env = ["--nodes=1", "--cpus-per-task=2"], {"ARTGENRE_NPROC": "2"}
    env |= {"ARTGENRE_HOME": str(REPO), "ARTGENRE_OUTPUTS": str(work / "outputs"), "OMP_NUM_THREADS": "1"}
    job = slurm.sbatch(script, options, [*TINY, f"data.root={synthetic_root}", f"trainer.epochs={epochs}"], work, env)
    run_dir = work / "outputs" / f"slurm-{job}"
    # the job's own output file (--output=slurm-%x-%j.out in the submit folder)
    log = work / f"slurm-{'artgenre-mn' if 'multinode' in script else 'artgenre'}-{job}.out"

    slurm.wait("two finished epochs", lambda: len(read_rows(run_dir / "metrics.csv")) >= 2, timeout=120, log=log)
    slurm.run("scancel", "--signal=USR1", "--batch", job)
    signalled = time.monotonic()
    slurm.wait("the requeue", lambda: slurm.job(job).get("Restarts") == "1", timeout=60, log=log)
    slurm.timings[f"{script}: USR1 -> stopped and requeued"] = time.monotonic() - signalled
    slurm.wait("the requeued job to run", lambda: slurm.job(job)["JobState"] in ("RUNNING", "COMPLETED"),
               timeout=90, log=log)
    slurm.timings[f"{script}: USR1 -> running again"] = time.monotonic() - signalled
    slurm.wait("the job to end", lambda: slurm.job(job)["JobState"] in ("COMPLETED", "FAILED", "CANCELLED"),
               timeout=150, log=log)
    slurm.timings[f"{script}: USR1 -> completed"] = time.monotonic() - signalled

    info, text = slurm.job(job), log.read_text()
    assert info["JobState"] == "COMPLETED" and info["Restarts"] == "1", slurm.diagnostics(log)
    assert "SIGUSR1" in text and f"requeueing job {job}" in text, text[-3000:]
    resumed = [line for line in text.splitlines() if line.startswith("resumed from ")]
    assert len(resumed) == 1 and str(run_dir / "checkpoints" / "last.pt") in resumed[0], text[-3000:]
    stopped_after = int(resumed[0].rsplit(" ", 1)[1])
    assert 2 <= stopped_after < epochs, "the first run was interrupted, not finished"
    rows = read_rows(run_dir / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == list(range(1, epochs + 1)), "every epoch once, in order"
    assert text.count("best val acc") == 1, "only the resumed run finished"


METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "val_acc_balanced", "n_train", "n_val")


@needs_slurm
def test_two_nodes_survive_usr1_and_match_one_node(slurm: Cluster, synthetic_root: Path, tmp_path: Path) -> None:
    """train_multinode.sbatch on 2 nodes x 1 process: rendezvous on the first node, USR1 once two epochs
    are done, requeue, exact resume; the same numbers as one node with 2 processes (same world size)."""
    work = slurm.root / "two_nodes"
    work.mkdir()
    epochs = 12
    overrides = [*TINY, f"data.root={synthetic_root}", f"trainer.epochs={epochs}"]
    env = {"ARTGENRE_HOME": str(REPO), "ARTGENRE_OUTPUTS": str(work / "outputs"), "OMP_NUM_THREADS": "1",
           "ARTGENRE_NPROC": "1"}
    job = slurm.sbatch("train_multinode.sbatch", [f"--nodes={NODES}", "--cpus-per-task=2"], overrides, work, env)
    run_dir, log = work / "outputs" / f"slurm-{job}", work / f"slurm-artgenre-mn-{job}.out"
    slurm.wait("two finished epochs", lambda: len(read_rows(run_dir / "metrics.csv")) >= 2, timeout=180, log=log)
    slurm.run("scancel", "--signal=USR1", "--batch", job)
    slurm.wait("the job to end", lambda: slurm.job(job)["JobState"] in ("COMPLETED", "FAILED", "CANCELLED"),
               timeout=300, log=log)

    info, text = slurm.job(job), log.read_text()
    assert info["JobState"] == "COMPLETED" and info["Restarts"] == "1", slurm.diagnostics(log)
    assert info["NodeList"] == "artgenre-n[1-2]", info["NodeList"]
    assert f"--nnodes={NODES} --nproc_per_node=1" in text and "device cpu x 2 process(es)" in text, text[-3000:]
    resumed = [line for line in text.splitlines() if line.startswith("resumed from ")]
    assert len(resumed) == 1 and 2 <= int(resumed[0].rsplit(" ", 1)[1]) < epochs, text[-3000:]
    rows = read_rows(run_dir / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == list(range(1, epochs + 1)), "every epoch once, in order"

    one_node = run_cli([*overrides, "hydra.run.dir=run"], cwd=tmp_path, nproc=2)
    assert one_node.returncode == 0, one_node.stderr[-3000:]
    reference = read_rows(tmp_path / "run" / "metrics.csv")
    for key in METRICS:
        assert float(rows[0][key]) == pytest.approx(float(reference[0][key]), rel=1e-6, abs=1e-9), key
    # the exact resume: the interrupted two-node run ends where the uninterrupted one-node run ends
    assert [r["val_acc"] for r in rows] == [r["val_acc"] for r in reference]


@needs_slurm
def test_study_array_writes_one_sweep_folder(slurm: Cluster, synthetic_root: Path) -> None:
    work = slurm.root / "study"
    work.mkdir()
    models = ["vit_scratch", "vit_scratch_study"]  # the tiny overrides fit both; the real four need GPUs
    env = {"ARTGENRE_HOME": str(REPO), "ARTGENRE_OUTPUTS": str(work / "outputs"), "OMP_NUM_THREADS": "1",
           "ARTGENRE_STUDY_MODELS": " ".join(models)}
    overrides = [a for a in TINY if not a.startswith("model=")] + [f"data.root={synthetic_root}", "trainer.epochs=1"]
    job = slurm.sbatch("study.sbatch", ["--array=0-1", "--ntasks-per-node=1", "--cpus-per-task=1"], overrides, work, env)

    def ended() -> bool:
        queued = subprocess.run(["squeue", "-h", "-j", job], env=slurm.env, capture_output=True, text=True)
        return queued.returncode != 0 or queued.stdout.strip() == ""

    logs = [work / f"slurm-artgenre-study-{job}_{i}.out" for i in range(len(models))]
    slurm.wait("both array tasks", ended, timeout=150, log=logs[0])
    sweep = work / "outputs" / f"study-{job}"
    assert sorted(p.name for p in sweep.iterdir()) == sorted(models), "\n".join(slurm.diagnostics(f) for f in logs)
    for model in models:
        rows = read_rows(sweep / model / "metrics.csv")
        assert [int(r["epoch"]) for r in rows] == [1], slurm.diagnostics(logs[models.index(model)])
        assert OmegaConf.load(sweep / model / ".hydra" / "config.yaml").model.name == model
        cfg = OmegaConf.load(sweep / model / ".hydra" / "config.yaml")  # experiment=study, and the ViTs' own piece
        assert (cfg.data.normalize, cfg.optim.decay_all, cfg.model.init, cfg.model.drop_path) == (False, True, "study", 0.0)


def test_greene_launcher_config_composes() -> None:
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="pip install -e '.[slurm]' for hydra/launcher=greene")
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="artgenre.conf", version_base="1.3"):
        cfg = compose("train", overrides=["hydra/launcher=greene", "model=resnet50"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert launcher.tasks_per_node == 1 and launcher.gpus_per_node == 1 and launcher.signal_delay_s == 120
    assert launcher.max_num_timeout > 0, "a timed-out job is requeued and resumes"


@needs_slurm
def test_cv_array_runs_every_fold_and_validates_every_image_once(slurm: Cluster, synthetic_root: Path) -> None:
    work = slurm.root / "cv"
    work.mkdir()
    env = {"ARTGENRE_HOME": str(REPO), "ARTGENRE_OUTPUTS": str(work / "outputs"), "OMP_NUM_THREADS": "1",
           "ARTGENRE_CV_MODELS": "vit_scratch", "ARTGENRE_CV_FOLDS": "2", "ARTGENRE_CV_SEEDS": "4"}
    overrides = [a for a in TINY if not a.startswith("model=")] + [f"data.root={synthetic_root}", "trainer.epochs=1"]
    job = slurm.sbatch("cv.sbatch", ["--array=0-1", "--ntasks-per-node=1", "--cpus-per-task=1"], overrides, work, env)

    def ended() -> bool:
        queued = subprocess.run(["squeue", "-h", "-j", job], env=slurm.env, capture_output=True, text=True)
        return queued.returncode != 0 or queued.stdout.strip() == ""

    logs = [work / f"slurm-artgenre-cv-{job}_{i}.out" for i in range(2)]
    slurm.wait("both array tasks", ended, timeout=150, log=logs[0])
    model_dir = work / "outputs" / f"cv-{job}" / "vit_scratch"
    assert sorted(p.name for p in model_dir.iterdir()) == ["seed4-fold0", "seed4-fold1"], \
        "\n".join(slurm.diagnostics(f) for f in logs)
    validated = [row["path"] for fold in (0, 1) for row in read_rows(model_dir / f"seed4-fold{fold}" / "val_predictions.csv")]
    everyone = [row["path"] for row in read_rows(model_dir / "seed4-fold0" / "split.csv")]
    assert sorted(validated) == sorted(everyone)
    config = OmegaConf.load(model_dir / "seed4-fold1" / ".hydra" / "config.yaml")
    assert (config.data.folds, config.data.fold, config.trainer.seed) == (2, 1, 4)
