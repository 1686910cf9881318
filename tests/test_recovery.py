"""Recovery is one command: a smoke run killed mid-training (SIGKILL to Snakemake and its jobs)
completes when the same command is run again, each cut-off model resumes from its last.pt, and
the results equal an uninterrupted run's (the session's one smoke DAG, tests/helpers.py).

The run is a copy of that finished smoke project with CMNIST's guided Table 1 run deleted: the
command trains it again (data, the other runs and their evaluations are current), is killed
mid-training, and the same command then finishes it and collects Table 1 from the five runs.
"""
import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from helpers import REPO, SMOKE, copy_of_smoke, env_for, run, scheduled_jobs, shared_smoke_repro, smoke_runs

# docs/workflow.md, "Recovery after a crash": the smoke run, and the same command resumes it after a
# crash; asked for CMNIST's Table 1 study, which the reference holds, with one of its models to
# train (guided, whose re-balancing state a resumed run must restore), to keep CI
# short. Every study's jobs go through the same two rules (train, utilization).
TARGET = "results/cmnist/table1.csv"
CONFIG = ["--configfile", SMOKE]
COMMAND = ["snakemake", TARGET, "--cores", "all", *CONFIG]


def test_profile_makes_the_same_command_resume():
    profile = (REPO / "profiles" / "default" / "config.yaml").read_text()
    for option in ("rerun-incomplete: true", "keep-going: true", "nolock: true", "cores: all"):
        assert option in profile, option


def _runs_in_training(project: Path) -> list[Path]:
    """Run folders with a per-epoch checkpoint but no status.json: cut off mid-training."""
    return [p.parent for p in (project / "results" / "runs").rglob("last.pt")
            if not (p.parent / "status.json").exists()]


def _kill_everything_in(project: Path, group: int) -> None:
    os.killpg(group, signal.SIGKILL)
    for proc in psutil.process_iter(["pid", "cwd"]):  # any job that left the process group
        try:
            if proc.info["cwd"] and Path(proc.info["cwd"]).is_relative_to(project):
                proc.kill()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass


@pytest.mark.e2e
def test_killed_smoke_run_resumes_with_the_same_command(tmp_path, tmp_path_factory):
    reference = shared_smoke_repro(tmp_path_factory)["reference"]
    smoke = shared_smoke_repro(tmp_path_factory)["project"]
    guided = [r for r in smoke_runs(smoke, "cmnist", "table1") if "/guided-" in r]
    assert len(guided) == 1, smoke_runs(smoke, "cmnist", "table1")
    project = copy_of_smoke(tmp_path_factory, tmp_path / "clone", remove=[guided[0], TARGET])
    assert scheduled_jobs(COMMAND, project) == {"train": 1, "utilization": 1, "collect": 1}
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(COMMAND, cwd=project, env=env_for(project), stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 1800
        try:
            while not _runs_in_training(project):
                assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "no training run wrote last.pt in time"
                time.sleep(0.2)
        finally:
            _kill_everything_in(project, first.pid)
            first.wait()
    assert first.returncode == -signal.SIGKILL
    cut_off = _runs_in_training(project)
    assert cut_off == [project / guided[0]]
    # the very same command, no --unlock, no --rerun-incomplete, no cleaning up
    again = run(COMMAND, project)
    assert "LockException" not in again.stdout + again.stderr
    for run_dir in cut_off:
        assert (run_dir / "status.json").exists(), run_dir
        assert "resuming" in (run_dir / "train.log").read_text(), run_dir  # from last.pt
    dry = run(["snakemake", TARGET, "-n", *CONFIG], project)
    assert "Nothing to be done" in dry.stdout + dry.stderr
    # the same numbers as the uninterrupted run
    ours, uninterrupted = (pd.read_csv(folder / "table1.csv").sort_values("run", ignore_index=True)
                           for folder in (project / "results" / "cmnist", reference))
    pd.testing.assert_frame_equal(ours, uninterrupted, check_exact=True, obj="table1.csv")
