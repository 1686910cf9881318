"""The cluster path for real: the workflow driven through a one-node SLURM cluster on this machine
(.ci/slurm-up) with profiles/slurm (snakemake-executor-plugin-slurm), on a copy of the session's
smoke project (a fresh `git clone` after `dvc repro`, tests/helpers.py) with three of CMNIST's
Table 1 runs deleted, which the cluster trains again. Run with `pytest -m slurm`; every test
skips, saying why, when `sinfo` is missing or the node is not up.

- A training job cancelled on the cluster (`scancel`) with `--retries 0`: Snakemake reports it
  failed and exits non-zero, the other job goes on (keep-going), and the same command again
  completes, the cancelled model resuming from its last.pt.
- CMNIST's smoke Table 1 (results/cmnist/table1.csv: the deleted runs' trainings and evaluations,
  the collection) through SLURM, with one running training job cancelled: the profile's retries
  resubmit it, it resumes from last.pt, and the CSV equals the local smoke run's (tests/test_dvc.py's
  shared `dvc repro`). The whole smoke DAG through SLURM (122 jobs; CMNIST's four studies alone took
  14.5 min) does not fit CI's budget on two cores; every study's jobs go through the same two
  rules (train, utilization) as these.
"""
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from helpers import SMOKE, copy_of_smoke, env_for, run, shared_smoke_repro, smoke_runs

pytestmark = [pytest.mark.slurm, pytest.mark.e2e]

PROFILE = ["snakemake", "--profile", "profiles/slurm", "--configfile", SMOKE,
           "--slurm-keep-successful-logs"]
STUDY = "table1"  # CMNIST's smoke Table 1: one run of every method
TIMEOUT = 900  # seconds for one Snakemake run


@pytest.fixture(scope="module", autouse=True)
def slurm_cluster():
    """Skip (with the reason) unless a SLURM node is up: `.ci/slurm-up` starts one."""
    if shutil.which("sinfo") is None:
        pytest.skip("no SLURM here (sinfo not on PATH): run .ci/slurm-up")
    result = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %T"], capture_output=True, text=True)
    states = result.stdout.split()
    if result.returncode != 0 or not any(s.rstrip("*~#") in ("idle", "mixed", "allocated") for s in states[1::2]):
        pytest.skip(f"no SLURM node up (sinfo: {(result.stdout + result.stderr).strip()!r}): run .ci/slurm-up")


RETRAINED = 3  # CMNIST Table 1 runs deleted from the copy: the cluster trains them again


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """One copy of the smoke project for the module: the tests below run in it one after the other."""
    smoke = shared_smoke_repro(tmp_path_factory)["project"]
    deleted = [*smoke_runs(smoke, "cmnist", STUDY)[:RETRAINED], f"results/cmnist/{STUDY}.csv"]
    return copy_of_smoke(tmp_path_factory, tmp_path_factory.mktemp("slurm") / "clone", remove=deleted)


def _retrained(project: Path) -> list[str]:
    """The run ids of the deleted runs: the study's runs whose folders the copy lacks, or that
    the cluster wrote (a SLURM log of their training)."""
    runs = [r for r, study in _cmnist_runs(project).items() if study == STUDY]
    return sorted(r for r in runs if not _status(project, r).exists() or _slurm_logs(project, r))


def _cmnist_runs(project: Path) -> dict:
    """run id -> study of CMNIST's smoke runs, as the clone's own code enumerates them."""
    code = ("import json; from greedy.config import load_params; from greedy.studies import study_runs; "
            f"c = load_params(['params.yaml', '{SMOKE}']); "
            "print(json.dumps({r: v['study'] for r, v in study_runs(c, 'cmnist').items()}))")
    return json.loads(run([sys.executable, "-c", code], project).stdout)


def _status(project: Path, run_id: str) -> Path:
    return project / "results" / "runs" / "cmnist" / run_id / "status.json"


def _slurm_jobs() -> dict:
    """SLURM job id -> (state, comment) of every job squeue still knows."""
    out = subprocess.run(["squeue", "-h", "--states=all", "-o", "%i|%T|%k"], capture_output=True,
                         text=True).stdout
    return {i: (state, comment) for i, state, comment in (line.split("|", 2) for line in out.splitlines())}


def _comment(run_id: str) -> str:
    """The plugin's --comment of the training job of a run (rule and wildcards)."""
    return f"rule_train_wildcards_cmnist_{run_id.replace('/', '_')}"


def _slurm_logs(project: Path, run_id: str, rule: str = "train") -> list[Path]:
    """The plugin's SLURM logs of a run's training (evaluation) jobs, one per submission."""
    folder = project / ".snakemake" / "slurm_logs" / f"rule_{rule}" / f"cmnist_{run_id.replace('/', '_')}"
    return sorted(folder.glob("*.log"))


def _run_cancelling_one(cmd, project: Path, run_ids, log: Path):
    """Run `cmd`; as soon as one of `run_ids` is training on the cluster with a last.pt written,
    `scancel` its job. Returns (the finished process, the cancelled run id, its SLURM job id)."""
    cancelled = job = None
    submitted = set()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=project, env=env_for(project), stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + TIMEOUT
        try:
            while proc.poll() is None:
                assert time.monotonic() < deadline, f"{' '.join(cmd)} ran past {TIMEOUT}s:\n{log.read_text()[-3000:]}"
                submitted |= set(re.findall(r"submitted with SLURM jobid (\d+)", log.read_text()))
                if cancelled is None:
                    jobs = _slurm_jobs()
                    for run_id in run_ids:
                        run_dir = _status(project, run_id).parent
                        # only this run's own jobs: a restarted slurmctld may still list
                        # jobs of an earlier run with the same comment (same run id)
                        running = [i for i, (state, comment) in jobs.items()
                                   if i in submitted and state == "RUNNING" and comment == _comment(run_id)]
                        if running and (run_dir / "last.pt").exists() and not (run_dir / "status.json").exists():
                            cancelled, job = run_id, running[0]
                            subprocess.run(["scancel", job], check=True)
                            break
                time.sleep(0.5)
        finally:
            if proc.poll() is None:
                proc.terminate()  # Snakemake cancels its own SLURM jobs on SIGTERM
                proc.wait(60)
            leftover = submitted & {i for i, (state, _) in _slurm_jobs().items() if state in ("PENDING", "RUNNING")}
            if leftover:
                subprocess.run(["scancel", *sorted(leftover)])
    return proc, cancelled, job


def test_cancelled_job_without_retries_fails_and_the_same_command_resumes(project, tmp_path):
    two = _retrained(project)[:2]
    assert len(two) == 2 and not any(_status(project, r).exists() for r in two)
    cmd = PROFILE + ["--retries", "0"] + [str(_status(project, r).relative_to(project)) for r in two]
    proc, cancelled, job = _run_cancelling_one(cmd, project, two, tmp_path / "first.log")
    output = (tmp_path / "first.log").read_text()
    assert cancelled is not None, f"no training job was seen running with a last.pt:\n{output[-3000:]}"
    assert proc.returncode != 0, output[-3000:]
    assert f"SLURM-job '{job}' failed, SLURM status is: 'CANCELLED'" in output, output[-3000:]
    assert not _status(project, cancelled).exists()
    # keep-going: the other model finished on the cluster
    (other,) = set(two) - {cancelled}
    assert _status(project, other).exists(), output[-3000:]
    # the same command again: the cancelled model resumes from its checkpoint
    again = run(cmd, project)
    assert _status(project, cancelled).exists(), again.stdout[-3000:] + again.stderr[-3000:]
    assert "resuming" in (_status(project, cancelled).parent / "train.log").read_text()
    assert len(_slurm_logs(project, cancelled)) == 2  # cancelled, then resubmitted


def test_smoke_through_slurm_retries_a_cancelled_job_and_equals_a_local_run(project, tmp_path, tmp_path_factory):
    reference = shared_smoke_repro(tmp_path_factory)["reference"]
    runs = [r for r, study in _cmnist_runs(project).items() if study == STUDY]
    retrained = _retrained(project)
    assert len(retrained) == RETRAINED
    names = [f"{STUDY}.csv"]
    targets = [f"results/cmnist/{name}" for name in names]
    pending = sorted(r for r in retrained if not _status(project, r).exists())
    proc, cancelled, job = _run_cancelling_one(PROFILE + targets, project, pending, tmp_path / "run.log")
    output = (tmp_path / "run.log").read_text()
    assert proc.returncode == 0, output[-3000:]
    # every job went through SLURM: the plugin's log of each training and evaluation job of the
    # deleted runs (those of this run, and those of the test above when it ran first)
    for run_id in runs:
        assert _status(project, run_id).exists(), run_id
    for run_id in retrained:
        assert _slurm_logs(project, run_id), f"{run_id}: trained without SLURM"
        assert _slurm_logs(project, run_id, "utilization"), f"{run_id}: evaluated without SLURM"
    # the cancelled job: reported, resubmitted by the profile's retries, resumed from last.pt
    assert cancelled is not None, f"no training job was seen running with a last.pt:\n{output[-3000:]}"
    assert len(_slurm_logs(project, cancelled)) >= 2, output[-3000:]
    assert "resuming" in (_status(project, cancelled).parent / "train.log").read_text()
    assert f"SLURM-job '{job}' failed, SLURM status is: 'CANCELLED'" in output
    # the same numbers as the local run (the shared smoke `dvc repro`)
    for name in names:
        ours = project / "results" / "cmnist" / name
        assert ours.exists(), name
        ours, local = pd.read_csv(ours), pd.read_csv(reference / name)
        if "run" in ours:
            ours, local = (f.sort_values("run", ignore_index=True) for f in (ours, local))
        pd.testing.assert_frame_equal(ours, local, check_exact=False, rtol=1e-6, atol=1e-9, obj=name)
