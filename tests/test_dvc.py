"""DVC as a new user meets it, on a fresh `git clone` of the committed repository (not a
`dvc init`-ed copy): the smoke overlay switched on in params.yaml, `dvc repro`, a second
`dvc repro` that does nothing, `dvc metrics show`, `dvc plots show`, `dvc push` / `dvc pull`
into a second clone without retraining, and `dvc exp run -S`.

The clones import their own `src/` (PYTHONPATH), as `pip install -e .` in the clone would,
without re-pointing the shared virtual environment. One smoke `dvc repro` is shared by the
module (and, as the uninterrupted reference, by tests/test_recovery.py).
"""
import filecmp
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers import GIT, REPO, SMOKE, git_clone, run, shared_smoke_repro

STAGES = ("data", "cmnist_unimodal", "cmnist_sweep", "cmnist_method_sweep", "cmnist_table1", "cmnist_ablation",
          "modelnet40_unimodal", "modelnet40_sweep", "modelnet40_method_sweep", "modelnet40_l1",
          "modelnet40_table1", "modelnet40_sensitivity", "modelnet40_views", "nvgesture_unimodal",
          "nvgesture_sweep", "nvgesture_method_sweep", "nvgesture_table1", "figlr", "table1", "table1_metrics",
          "results_index")
# Modules of src/greedy that no DVC stage runs (diagnosis and benchmarking tools; dvcfile.py
# writes dvc.yaml).
NOT_IN_THE_PIPELINE = {"__init__.py", "benchmark.py", "cost.py", "diagnose.py", "flops.py", "measured.py",
                       "dvcfile.py"}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    return shared_smoke_repro(tmp_path_factory)


def test_dvc_project_is_committed():
    tracked = run(["git", "ls-files", ".dvc", ".dvcignore", "dvc.yaml", "params.yaml"], REPO).stdout.split()
    assert {".dvc/config", ".dvc/.gitignore", ".dvcignore", "dvc.yaml", "params.yaml"} <= set(tracked)
    assert "../../greedy-dvc-storage" in (REPO / ".dvc" / "config").read_text()


def test_stage_deps_cover_the_code_each_stage_runs():
    """Every module the pipeline runs is a dependency of every study stage: a change to training
    code re-runs the study stages; only render and paper code are the index stage's deps."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    tracked = run(["git", "ls-files", "src/greedy/*.py"], REPO).stdout.split()  # committed code
    modules = {path for path in tracked if "/" not in path[len("src/greedy/"):]
               and Path(path).name not in NOT_IN_THE_PIPELINE}
    for name in [s for s in stages if s.startswith(("cmnist_", "modelnet40_", "nvgesture_"))]:
        deps = set(stages[name]["deps"])
        assert modules <= deps, (name, sorted(modules - deps))
        assert {"src/greedy/data", "workflow/rules", "config", f"data/{name.split('_')[0]}"} <= deps, name
    assert {"src/greedy/render", "src/greedy/paper.py"} <= set(stages["results_index"]["deps"])  # the package
    assert not {"src/greedy/train.py", "src/greedy/models.py"} & set(stages["results_index"]["deps"])


@pytest.mark.e2e
def test_dvc_repro_at_smoke_scale_from_a_fresh_clone(smoke):
    project = smoke["project"]
    for stage in STAGES:
        assert f"Running stage '{stage}'" in smoke["output"], stage
    for path in ("index.json", "report.md", "tables/table1.csv", "metrics/table1.json",
                 "metrics/cmnist_unimodal.json", "metrics/fig7_sweep.json", "figures/fig7.png",
                 "figures/fig2a.png", "figures/fig9b.png", "tables/modelnet40_views.md"):
        assert (project / "results" / path).stat().st_size > 0, path
    # smoke scale: one run per Table 1 method
    assert len(list((project / "results" / "runs" / "cmnist" / "table1").glob("*/*/status.json"))) == 5
    dag = run(["dvc", "dag"], project).stdout
    for stage in STAGES:
        assert stage in dag, stage
    remotes = run(["dvc", "remote", "list"], project).stdout
    assert str(project.parent / "greedy-dvc-storage") in remotes


@pytest.mark.e2e
def test_second_dvc_repro_does_nothing(smoke):
    project = smoke["project"]
    second = run(["dvc", "repro"], project).stdout
    assert "Running stage" not in second and "didn't change" in second
    assert "up to date" in run(["dvc", "status"], project).stdout
    dry = run(["snakemake", "-n", "--configfile", SMOKE], project)
    assert "Nothing to be done" in dry.stdout + dry.stderr


@pytest.mark.e2e
def test_dvc_metrics_show_prints_table1(smoke):
    project = smoke["project"]
    table1 = pd.read_csv(project / "results" / "tables" / "table1.csv")
    ours = table1[(table1.dataset == "cmnist") & (table1.status == "reproduced")].set_index("method")
    metrics = json.loads(run(["dvc", "metrics", "show", "--json"], project).stdout)
    shown = metrics[""]["data"] if "" in metrics else next(iter(metrics.values()))["data"]
    table = shown["results/metrics/table1.json"]["data"]
    assert set(table) == set(ours.index) >= {"unimodal", "vanilla", "rubi", "random", "guided"}
    for method, row in ours.iterrows():
        assert table[method]["ours_mean"] == pytest.approx(row.ours_mean)
    for study in ("results/metrics/cmnist_unimodal.json", "results/metrics/fig7_sweep.json",
                  "results/metrics/modelnet40_unimodal.json", "results/metrics/fig2a_sweep.json"):
        assert shown[study]["data"], study
    printed = run(["dvc", "metrics", "show"], project).stdout
    assert "results/metrics/table1.json" in printed and "vanilla.ours_mean" in printed
    assert f"{ours.loc['guided', 'ours_mean']:.5g}"[:4] in printed


@pytest.mark.e2e
def test_dvc_plots_show_renders_the_figures_data(smoke, tmp_path):
    project = smoke["project"]
    run(["dvc", "plots", "show", "-o", str(tmp_path / "plots")], project)
    html = (tmp_path / "plots" / "index.html").read_text()
    for name in ("fig7_d_util_by_lr", "methods_cmnist_d_util_by_lr_and_method", "table1_test_acc_by_method",
                 "fig7.png", "methods_cmnist.png", "dspeed_steps.png"):
        assert name in html, name


@pytest.fixture(scope="module")
def pulled(smoke, tmp_path_factory):
    """`dvc push` from the smoke clone; a second clone elsewhere, pointed at the same storage with
    `dvc remote modify --local`, then `dvc pull`."""
    project = smoke["project"]
    run(GIT + ["add", "params.yaml", "dvc.lock"], project)
    run(GIT + ["commit", "-qm", "smoke results"], project)
    pushed = run(["dvc", "push"], project)
    storage = project.parent / "greedy-dvc-storage"
    assert storage.is_dir() and any(storage.rglob("*")), pushed.stdout
    other = git_clone(project, tmp_path_factory.mktemp("elsewhere") / "clone")
    run(["dvc", "remote", "modify", "--local", "local", "url", str(storage)], other)
    pull = run(["dvc", "pull"], other)
    # dvc pull restores contents, not modification times: tell Snakemake the files are current
    touch = run(["snakemake", "--touch", "--configfile", SMOKE], other)
    return {"project": project, "other": other, "pull": pull.stdout + pull.stderr,
            "touch": touch.stdout + touch.stderr}


@pytest.mark.e2e
def test_push_then_pull_restores_the_runs_without_retraining(pulled):
    project, other = pulled["project"], pulled["other"]
    assert "up to date" in run(["dvc", "status"], other).stdout
    runs = sorted(p.relative_to(project) for p in (project / "results" / "runs").rglob("*")
                  if p.is_file() and not p.name.endswith(".tmp"))
    assert any(p.name == "best.pt" for p in runs) and any(p.name == "last.pt" for p in runs)
    match, mismatch, errors = filecmp.cmpfiles(project, other, [str(p) for p in runs], shallow=False)
    assert not mismatch and not errors and len(match) == len(runs)
    for path in ("results/metrics/table1.json", "results/tables/table1.csv", "results/index.json"):
        assert (project / path).read_bytes() == (other / path).read_bytes(), path
    again = run(["dvc", "repro"], other).stdout
    assert "Running stage" not in again
    dry = run(["snakemake", "-n", "--configfile", SMOKE], other)
    assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-3000:]
    # no job ran in the second clone (--touch leaves empty log files behind, nothing more)
    assert all(log.stat().st_size == 0 for log in other.glob("logs/**/*.log"))
    ignored = run(["dvc", "check-ignore", "src/greedy/__pycache__/train.cpython-311.pyc",
                   "results/runs/x/.last.pt.abc.tmp"], other)
    assert ignored.stdout.split() == ["src/greedy/__pycache__/train.cpython-311.pyc",
                                      "results/runs/x/.last.pt.abc.tmp"]


@pytest.mark.e2e
def test_dvc_exp_run_sets_a_parameter(pulled):
    """An experiment on the pulled clone: fewer Table 1 methods re-renders Table 1 (and the
    stages downstream of its parameters) and trains nothing."""
    other = pulled["other"]
    exp = run(["dvc", "exp", "run", "-S", "studies.cmnist.table1.methods=[vanilla,guided]"], other).stdout
    for stage in ("cmnist_table1", "table1", "table1_metrics", "results_index"):
        assert f"Running stage '{stage}'" in exp, stage
    for stage in ("data", "cmnist_unimodal", "cmnist_sweep", "cmnist_method_sweep", "modelnet40_table1"):
        assert f"Running stage '{stage}'" not in exp, stage
    table = json.loads((other / "results" / "metrics" / "table1.json").read_text())
    assert set(table) == {"unimodal", "vanilla", "guided"}
    # re-rendered, trained nothing: every training log is still --touch's empty file
    assert all(log.stat().st_size == 0 for log in other.glob("logs/train/**/*.log"))
    assert "Ran experiment(s)" in exp
    shown = run(["dvc", "exp", "show", "--csv"], other).stdout
    assert "studies.cmnist.table1.methods" in shown.splitlines()[0].split(",")
