"""Faults, injected for real, and what each loses (nothing):
- a training process killed with SIGKILL at a chosen or random *step* (mid-epoch, inside a guided
  re-balancing window, at an epoch's last step) resumes and ends with the uninterrupted run's metrics,
  step kinds, speed log and best model, with mid-epoch checkpoints and with epoch-end ones only;
- a damaged (one byte changed) or truncated last.pt, and both checkpoints damaged, are detected:
  the run resumes from the state before, or retrains, and still ends with the same numbers;
- a write killed half-way never leaves a file that looks complete;
- a diverged run in a sweep is recorded, evaluated and counted, and the study goes on;
- two Snakemake runs, or two `dvc repro`, in one checkout at once: the second fails fast naming
  the lock, and a killed run's lock never blocks the same command afterwards.
Cluster faults (a SLURM job cancelled, retried) are in tests/test_slurm.py."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
import torch

from helpers import REPO, env_for, git_clone, use_smoke_overlay
from greedy import fileio
from greedy.studies import collect
from greedy.utilization import evaluate_run

# Trains one run in a fresh process and SIGKILLs itself right after step `kill_at` (0: never).
KILLABLE_TRAINING = """
import json, os, signal, sys
import torch
from greedy.train import train
torch.set_num_threads(1)
config, run_dir, kill_at = json.loads(open(sys.argv[1]).read()), sys.argv[2], int(sys.argv[3])
def on_step(step):
    if step == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
train(config, run_dir, on_step=on_step)
"""
STEPS_PER_EPOCH = 6  # tiny_config: 384 training images, batch 64
EPOCHS = 3


def _train(config: dict, run_dir: Path, kill_at: int = 0) -> int:
    config_file = run_dir.parent / f"{run_dir.name}.json"
    config_file.write_text(json.dumps(config))
    result = subprocess.run([sys.executable, "-c", KILLABLE_TRAINING, str(config_file), str(run_dir), str(kill_at)],
                            capture_output=True, text=True)
    if kill_at == 0:
        assert result.returncode == 0, result.stderr[-3000:]
    return result.returncode


def _outcome(run_dir: Path) -> dict:
    """Everything a run leaves that the studies read, minus wall-clock times."""
    status = fileio.read_json(run_dir / "status.json")
    status.pop("wall_seconds")
    status["config"]["training"].pop("checkpoint_minutes")  # when checkpoints are written, not what
    best = torch.load(run_dir / "best.pt", weights_only=False)
    return {"status": status,
            "metrics": pd.read_csv(run_dir / "metrics.csv").drop(columns="seconds"),
            "steps": pd.read_csv(run_dir / "steps.csv"),
            "speed": pd.read_csv(run_dir / "speed.csv"),
            "best": {k: v for k, v in best["model"].items()}, "best_epoch": best["epoch"]}


def _assert_same(ours: dict, reference: dict) -> None:
    assert ours["status"] == reference["status"]
    for name in ("metrics", "steps", "speed"):
        pd.testing.assert_frame_equal(ours[name], reference[name], check_exact=True, obj=name)
    assert ours["best_epoch"] == reference["best_epoch"]
    for key, value in reference["best"].items():
        assert torch.equal(ours["best"][key], value), key


def _config(tiny_config, method: str, checkpoint_minutes) -> dict:
    config = tiny_config(max_epochs=EPOCHS)
    config["method"] = method
    if method == "guided":  # re-balancing from epoch 2 on, windows of 3 steps
        config["method_params"] = {"alpha": 0.0, "rebalance_steps": 3, "warmup_epochs": 1}
    config["training"]["checkpoint_minutes"] = checkpoint_minutes
    return config


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    return {}


def _reference(references, tiny_config, tmp_path_factory, method):
    if method not in references:
        run_dir = tmp_path_factory.mktemp(f"uninterrupted-{method}") / "run"
        _train(_config(tiny_config, method, None), run_dir)
        references[method] = _outcome(run_dir)
    return references[method]


@pytest.mark.e2e
@pytest.mark.parametrize("checkpoint_minutes", [0, None], ids=["every-step", "epoch-ends-only"])
@pytest.mark.parametrize("method", ["vanilla", "guided"])
def test_sigkill_at_random_steps_resumes_to_the_uninterrupted_result(
        method, checkpoint_minutes, tiny_config, tmp_path, tmp_path_factory, references):
    reference = _reference(references, tiny_config, tmp_path_factory, method)
    kinds = reference["steps"]["kind"].tolist()
    last = STEPS_PER_EPOCH * EPOCHS
    rng = np.random.default_rng([7, checkpoint_minutes is None, method == "guided"])
    kill_points = set(rng.choice(np.arange(1, last), size=3, replace=False).tolist())
    kill_points.add(STEPS_PER_EPOCH)  # an epoch's last step, before its checkpoint
    if method == "guided":  # inside a re-balancing window: its remaining steps must survive
        window = next(s for s in range(1, last - 1) if kinds[s - 1].startswith("rebalance")
                      and kinds[s].startswith("rebalance"))
        kill_points.add(window)
    run_dir = tmp_path / "run"
    for kill_at in sorted(kill_points):
        assert _train(_config(tiny_config, method, checkpoint_minutes), run_dir, kill_at) == -signal.SIGKILL
        assert not (run_dir / "status.json").exists()
    _train(_config(tiny_config, method, checkpoint_minutes), run_dir)
    _assert_same(_outcome(run_dir), reference)
    log = (run_dir / "train.log").read_text()
    if checkpoint_minutes == 0:
        assert "after step" in log  # resumed mid-epoch, not from the epoch's start


@pytest.mark.e2e
@pytest.mark.parametrize("damage", ["changed-byte", "truncated", "both-checkpoints"])
def test_damaged_checkpoint_is_detected_and_training_goes_on_from_the_state_before(
        damage, tiny_config, tmp_path, tmp_path_factory, references):
    reference = _reference(references, tiny_config, tmp_path_factory, "guided")
    config = _config(tiny_config, "guided", 0)
    run_dir = tmp_path / "run"
    assert _train(config, run_dir, kill_at=9) == -signal.SIGKILL
    last, previous = run_dir / "last.pt", run_dir / "previous.pt"
    assert last.exists() and previous.exists()
    for path in ([last, previous] if damage == "both-checkpoints" else [last]):
        data = bytearray(path.read_bytes())
        if damage == "truncated":
            data = data[: len(data) // 2]
        else:
            data[len(data) // 2] ^= 0x01  # one bit inside the tensors: a zip archive alone misses it
        path.write_bytes(bytes(data))
    _train(config, run_dir)
    log = (run_dir / "train.log").read_text()
    assert "moved to" in log and (run_dir / "last.pt.corrupt").exists()  # kept, for a look
    if damage == "both-checkpoints":
        assert (run_dir / "previous.pt.corrupt").exists()
    else:
        assert "in epoch 2 after step 2" in log  # previous.pt: one step before the kill
    _assert_same(_outcome(run_dir), reference)


def test_a_killed_write_never_leaves_a_file_that_looks_complete(tmp_path):
    target = tmp_path / "metrics.csv"
    fileio.write_text(target, "complete,old\n")
    writer = subprocess.Popen([sys.executable, "-c", f"""
import time
from greedy import fileio
def slow(tmp):
    with open(tmp, "w") as f:
        f.write("half")
        f.flush()
        time.sleep(60)
fileio.atomic_write({str(target)!r}, slow)
"""])
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob(".metrics.csv.*.tmp")):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert target.read_text() == "complete,old\n"  # the old, complete file; never "half"
    # the leftover is a hidden .tmp, which Snakemake, DVC (.dvcignore) and collect never read
    assert [p.name.startswith(".") and p.suffix == ".tmp" for p in tmp_path.glob(".metrics.csv.*")] == [True]


def test_a_diverged_run_in_a_sweep_is_recorded_evaluated_and_counted(tiny_config, tmp_path):
    files = []
    for lr in (0.05, 1e6):  # the second one's loss overflows
        config = tiny_config(lr=lr, max_epochs=2)
        run_dir = tmp_path / f"lr{lr:g}"
        _train(config, run_dir)
        out = tmp_path / f"lr{lr:g}.json"
        evaluate_run(run_dir, out, device="cpu")
        files.append(str(out))
    assert fileio.read_json(tmp_path / "lr1e+06" / "status.json")["status"] == "diverged"
    frame = collect(files)
    assert len(frame) == 2 and sorted(frame["status"]) == ["completed", "diverged"]
    diverged = frame[frame["status"] == "diverged"].iloc[0]
    assert diverged["stopped_by"] == "diverged" and np.isnan(diverged["d_util"])


# --- two invocations at once ---------------------------------------------------------------------

def _start(cmd, project: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=project, env=env_for(project), stdout=open(log, "w"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def _stop(process: subprocess.Popen) -> None:
    for child in psutil.Process(process.pid).children(recursive=True):
        child.kill()
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _wait_for(condition, process, log: Path, timeout=300):
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.2)


@pytest.mark.e2e
def test_two_snakemake_runs_at_once_the_second_fails_fast_naming_the_lock(tmp_path):
    project = git_clone(REPO, tmp_path / "clone")
    command = ["snakemake", "results/cmnist/unimodal.csv", "--cores", "1", "--configfile", "config/smoke.yaml"]
    first = _start(command, project, tmp_path / "first.log")
    lock = project / ".snakemake" / "greedy.lock"
    try:
        _wait_for(lambda: lock.exists() and "pid" in lock.read_text(), first, tmp_path / "first.log")
        started = time.monotonic()
        second = subprocess.run(command, cwd=project, env=env_for(project), capture_output=True, text=True)
        output = second.stdout + second.stderr
        assert second.returncode != 0
        assert "Another Snakemake run is working in" in output and f"pid {first.pid}" in output
        assert time.monotonic() - started < 120  # DAG building only, no job run
        assert first.poll() is None  # the first run is untouched
    finally:
        _stop(first)
    # the killed run left its lock file behind; the lock itself died with it: the same command
    # takes it and starts working (stopped there: finishing it is tests/test_recovery.py's part)
    again = _start(command, project, tmp_path / "again.log")
    try:
        _wait_for(lambda: f"pid {again.pid}" in lock.read_text() and "Another Snakemake run" not in
                  (tmp_path / "again.log").read_text(), again, tmp_path / "again.log")
        _wait_for(lambda: "Execute" in (tmp_path / "again.log").read_text(), again, tmp_path / "again.log")
    finally:
        _stop(again)


@pytest.mark.e2e
def test_two_dvc_repro_at_once_the_second_fails_fast_naming_the_lock(tmp_path):
    project = git_clone(REPO, tmp_path / "clone")
    use_smoke_overlay(project)
    first = _start(["dvc", "repro"], project, tmp_path / "first.log")
    try:  # the first holds DVC's lock once it runs a stage's Snakemake
        _wait_for(lambda: any("snakemake" in " ".join(c.cmdline()) for c in psutil.Process(first.pid).children(True)),
                  first, tmp_path / "first.log")
        second = subprocess.run(["dvc", "repro"], cwd=project, env=env_for(project), capture_output=True,
                                text=True, timeout=120)
        output = second.stdout + second.stderr
        assert second.returncode != 0
        # DVC's repository lock, or its lock on the stage's outputs naming the process holding them
        assert "Unable to acquire lock" in output or ("is busy, it is being blocked by" in output
                                                      and f"PID {first.pid}" in output), output
        assert first.poll() is None
    finally:
        _stop(first)
