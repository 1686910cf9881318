"""What triggers what: a training-code change retrains, a rendering change re-renders only.

Snakemake side: the training code files are inputs of the train rule and the render package
(src/greedy/render/) and paper.py of the render rules, so editing one reruns those jobs. Trainer
side: last.pt and status.json carry the training code's fingerprint (comments and docstrings ignored); a run written by other training
code is trained again from scratch, otherwise the rerun job finishes from last.pt at once.
"""
import os
import shutil

import pandas as pd
import pytest

from greedy import fileio
from greedy.fingerprint import training_code_files, training_code_fingerprint

from helpers import copy_project, run, scheduled_jobs

# The smoke DAG of CMNIST cut down: 2-epoch runs, Table 1 of vanilla and guided, and asked for two
# artifacts only (TARGETS: the uni-modal table and Table 1, 2 + 2 runs, each render job's inputs).
# What triggers what is the same for every run and every render rule (each has the training code,
# or the render code, as inputs: workflow/rules/), and fewer jobs make it quicker.
TRAIN_RUNS = 4
FAST = """\
datasets: [cmnist]
training:
  cmnist:
    max_epochs: 2
studies:
  cmnist:
    table1: {methods: [vanilla, guided]}
"""
TARGETS = ["results/tables/cmnist_unimodal.csv", "results/tables/table1.csv"]
SNAKEMAKE = ["snakemake", *TARGETS, "--cores", "2", "--configfile", "config/smoke.yaml", "fast.yaml"]
RENDER_RULES = {"unimodal_table", "table1"}


# --- the fingerprint and the trainer ---------------------------------------------------------

def _package(tmp_path):
    from greedy.fingerprint import PACKAGE_DIR
    dest = tmp_path / "greedy"
    shutil.copytree(PACKAGE_DIR, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def test_fingerprint_covers_the_training_code_only(tmp_path):
    package = _package(tmp_path)
    names = {p.relative_to(package).as_posix() for p in training_code_files(package)}
    assert {"train.py", "models.py", "mmtm.py", "speed.py", "methods.py", "evaluation.py",
            "data/cmnist/colouring.py", "data/cmnist/loader.py", "data/mnist.py"} <= names
    assert not names & {"render/stats.py", "paper.py", "utilization.py", "studies.py", "cli.py",
                        "data/modelnet40/loader.py"}
    before = training_code_fingerprint(package)
    for other in ("render/stats.py", "data/modelnet40/loader.py"):  # rendering, another data set's code
        with open(package / other, "a") as f:
            f.write("\nNOT_CMNIST_TRAINING = 1\n")
    assert training_code_fingerprint(package) == before
    with open(package / "data" / "cmnist" / "loader.py", "a") as f:
        f.write("\nCMNIST_DATA_CHANGED = 1\n")
    assert training_code_fingerprint(package) != before


def test_fingerprint_ignores_comments_and_docstrings_but_not_code(tmp_path):
    package = _package(tmp_path)
    before = training_code_fingerprint(package)
    models = package / "models.py"
    source = models.read_text()
    models.write_text('"""Another docstring."""\n# a comment\n' + source.split('"""', 2)[2] + "\n# trailing\n")
    assert training_code_fingerprint(package) == before
    models.write_text(source + "\nEXTRA = 1\n")
    assert training_code_fingerprint(package) != before


def test_trainer_does_not_resume_or_reuse_runs_of_other_training_code(tiny_config, tmp_path, monkeypatch, caplog):
    import greedy.train as trainer
    config = tiny_config(max_epochs=2)
    first = trainer.train(config, tmp_path / "run")
    assert first["training_code"] == training_code_fingerprint()
    assert fileio.read_json(tmp_path / "run" / "status.json")["training_code"] == first["training_code"]
    # same code: the finished run is reused as it is
    assert trainer.train(config, tmp_path / "run") == first
    # other code: status.json is not reused and last.pt is not resumed; the run starts from epoch 0
    monkeypatch.setattr(trainer, "training_code_fingerprint", lambda **_: "other-code")
    epochs = []
    again = trainer.train(config, tmp_path / "run", on_epoch_end=epochs.append)
    assert epochs == [1, 2] and again["training_code"] == "other-code"
    log = (tmp_path / "run" / "train.log").read_text()
    assert "written by other training code" in log and "starting fresh" in log
    # killed mid-way under the new code, it resumes from its own checkpoint
    status = tmp_path / "run" / "status.json"
    status.unlink()
    epochs.clear()
    trainer.train(config, tmp_path / "run", on_epoch_end=epochs.append)
    assert epochs == []  # last.pt was already at the final epoch


# --- Snakemake -------------------------------------------------------------------------------

def _scheduled(project, *overlays) -> dict:
    """rule -> number of jobs `snakemake -n` would run."""
    return scheduled_jobs([*SNAKEMAKE, *overlays], project)


def _edit(path, text):
    with open(path, "a") as f:
        f.write(text)


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    """The smoke DAG of CMNIST cut down (FAST), on this copy's own source (PYTHONPATH), done once."""
    project = copy_project(tmp_path_factory.mktemp("triggers"))
    (project / "fast.yaml").write_text(FAST)
    os.environ["PYTHONPATH"] = str(project / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")
    try:
        run(SNAKEMAKE, project)
        assert _scheduled(project) == {}
        yield project
    finally:
        os.environ["PYTHONPATH"] = os.environ["PYTHONPATH"].split(os.pathsep, 1)[1]


@pytest.mark.e2e
def test_device_and_eval_batch_size_retrain_nothing(fast_run):
    """Not in the run ids and not tracked params: no train or utilization job is scheduled (the
    render rules record training.cmnist in their index entries, so they may re-render)."""
    (fast_run / "elsewhere.yaml").write_text("device: cpu\ntraining:\n  cmnist:\n    eval_batch_size: 100\n")
    scheduled = _scheduled(fast_run, "elsewhere.yaml")
    assert set(scheduled) - {"all"} <= RENDER_RULES, scheduled


@pytest.mark.e2e
def test_editing_render_code_reruns_render_jobs_only(fast_run):
    _edit(fast_run / "src" / "greedy" / "render" / "stats.py", "\n# a rendering change\n")
    scheduled = _scheduled(fast_run)
    assert set(scheduled) - {"all"} == RENDER_RULES, scheduled
    run(SNAKEMAKE, fast_run)
    assert _scheduled(fast_run) == {}


@pytest.mark.e2e
def test_editing_a_comment_in_training_code_reruns_training_without_retraining(fast_run):
    runs = sorted((fast_run / "results" / "runs").rglob("status.json"))
    assert len(runs) == TRAIN_RUNS
    before = {p: pd.read_csv(p.parent / "metrics.csv") for p in runs}
    _edit(fast_run / "src" / "greedy" / "models.py", "\n# only a comment\n")
    scheduled = _scheduled(fast_run)
    assert scheduled["train"] == TRAIN_RUNS and scheduled["utilization"] == TRAIN_RUNS
    assert "data" not in scheduled
    run(SNAKEMAKE, fast_run)
    for path, metrics in before.items():  # same fingerprint: finished from last.pt, not retrained
        pd.testing.assert_frame_equal(pd.read_csv(path.parent / "metrics.csv"), metrics)
        assert "resuming" in (path.parent / "train.log").read_text()
    assert _scheduled(fast_run) == {}


@pytest.mark.e2e
def test_editing_training_code_retrains_every_run(fast_run):
    _edit(fast_run / "src" / "greedy" / "speed.py", "\nTRAINING_CODE_CHANGED = True\n")
    scheduled = _scheduled(fast_run)
    assert scheduled["train"] == TRAIN_RUNS
    run(SNAKEMAKE, fast_run)
    for path in (fast_run / "results" / "runs").rglob("status.json"):
        log = (path.parent / "train.log").read_text()
        assert "written by other training code" in log and "starting fresh" in log, path
        assert fileio.read_json(path)["training_code"] == training_code_fingerprint(fast_run / "src" / "greedy")
    assert _scheduled(fast_run) == {}
