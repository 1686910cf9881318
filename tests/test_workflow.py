"""The Snakemake DAG and the DVC stages, run for real on the smoke configuration (offline)."""
import json

import pandas as pd
import pytest
import yaml

from helpers import REPO, copy_project, run, shared_smoke_repro

SMOKE = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """The whole smoke DAG, run once a session on a fresh `git clone` with no ../shared beside it:
    by `dvc repro` (tests/test_dvc.py), whose stages are Snakemake calls on these same rules. Then
    the README's `snakemake` on that clone must find every job done (the two front doors agree on
    what is up to date: test_smoke_dag_again_does_nothing); the tests below read what the run
    wrote. Snakemake from an empty clone is run by tests/test_recovery.py, test_triggers.py and
    test_slurm.py (CMNIST)."""
    return shared_smoke_repro(tmp_path_factory)["project"]


@pytest.mark.e2e
def test_smoke_dag_writes_every_artifact(smoke_run):
    results = smoke_run / "results"
    for path in ["index.json", "figures/fig7.png", "figures/fig7.meta.json", "tables/cmnist_unimodal.csv",
                 "tables/cmnist_unimodal.md", "metrics/cmnist_unimodal.json", "metrics/fig7_sweep.json",
                 "cmnist/sweep.csv", "cmnist/sweep_lrs.csv", "cmnist/unimodal.csv", "cmnist/table1.csv",
                 "tables/table1.csv", "tables/table1.md", "tables/table1.tex", "report.md"]:
        assert (results / path).stat().st_size > 0, path
    index = json.loads((results / "index.json").read_text())
    by_id = {entry["id"]: entry for entry in index["artifacts"]}
    assert set(by_id) == {"fig7", "text:cmnist_unimodal", "table1", "methods_cmnist", "dspeed_steps", "ablation",
                          "fig2a", "text:modelnet40_unimodal", "fig5a", "fig3", "fig4", "fig8", "fig9a",
                          "fig9b", "text:modelnet40_three_views", "figlr",
                          "fig2b", "text:nvgesture_unimodal", "fig5b"}
    sweep_size = SMOKE["studies"]["cmnist"]["sweep"]
    per_pairing = sweep_size["num_lrs"] * sweep_size["runs"]
    assert by_id["methods_cmnist"]["n_models"] == 3 * per_pairing  # vanilla mono+gray sweep, guided and random sweeps
    # CMNIST: five methods x 1 run, plus the best uni-modal run; ModelNet40 and NVGesture-scratch:
    # four methods, plus uni-modal (NVGesture-pretrained needs the Kinetics weights: not in the smoke run)
    assert by_id["table1"]["n_models"] == (5 + 1) + (4 + 1) + (4 + 1)
    assert by_id["fig7"]["n_models"] == 3 * per_pairing and by_id["text:cmnist_unimodal"]["n_models"] == 2
    assert by_id["fig7"]["rule"] == "sweep_histograms" and by_id["fig2a"]["rule"] == "sweep_histograms"
    assert by_id["fig7"]["params"]["studies.cmnist.sweep"]["num_lrs"] == sweep_size["num_lrs"]
    for entry in index["artifacts"]:
        for path in entry["paths"]:
            assert (smoke_run / path).exists(), path
    sweep = pd.read_csv(results / "cmnist" / "sweep.csv")
    assert sorted(set(sweep["pairing"])) == ["gray+gray", "mono+gray", "mono+mono"]
    lrs = pd.read_csv(results / "cmnist" / "sweep_lrs.csv")["lr"].tolist()
    assert sorted(set(sweep["lr"])) == sorted(lrs)
    assert list((smoke_run / "logs" / "data" / "data" / "cmnist").glob("*.log"))
    table1 = pd.read_csv(results / "tables" / "table1.csv")
    cmnist = table1[table1.dataset == "cmnist"]
    assert set(cmnist.method) == {"unimodal", "vanilla", "rubi", "random", "guided", "gradient_blending"}
    assert (cmnist.status == "reproduced").all() and cmnist.ours_mean.notna().all()
    assert table1[table1.method == "gradient_blending"].paper_mean.isna().all()  # not in the paper
    modelnet40 = table1[table1.dataset == "modelnet40"]
    in_paper = modelnet40[modelnet40.paper_mean.notna()]
    assert set(in_paper.method) == {"unimodal", "vanilla", "rubi", "random", "guided"}
    assert (in_paper.status == "reproduced").all() and in_paper.ours_mean.notna().all()
    # Gradient Blending is an extension the ModelNet40 study does not run: not run, not a gap
    assert (modelnet40[modelnet40.method == "gradient_blending"].status == "not run").all()
    scratch = table1[(table1.dataset == "nvgesture_scratch") & table1.paper_mean.notna()]
    assert (scratch.status == "reproduced").all() and scratch.ours_mean.notna().all()
    pretrained = table1[(table1.dataset == "nvgesture_pretrained") & table1.paper_mean.notna()]
    assert (pretrained.status == "not yet reproduced").all() and pretrained.ours_mean.isna().all()
    report = (results / "report.md").read_text()
    for artifact in ("table1", "fig7", "fig2a", "fig5b", "fig9a", "figlr", "text"):
        assert f"| {artifact}" in report
    assert report.count("not yet reproduced") >= 5  # NVGesture-pretrained's column
    # the report says what scale its numbers come from
    assert "**Colored-and-gray-MNIST: reduced scale**: 3,000 training digits" in report
    assert "**ModelNet40: a generated fixture**" in report and "**NVGesture: a generated fixture**" in report
    # the guided and random runs logged re-balancing steps; vanilla did not
    steps = {method: pd.read_csv(next((results / "runs" / "cmnist" / "table1" / "mono-gray").glob(f"{method}-*"))
                                 / "steps.csv") for method in ("vanilla", "guided", "random")}
    assert (steps["vanilla"].kind == "regular").all()
    assert steps["random"].kind.str.startswith("rebalance").any()


@pytest.mark.e2e
def test_smoke_dag_runs_every_modelnet40_study_from_the_fixture(smoke_run):
    """ModelNet40 from the fixture in the MVCNN layout: every study, three views, and the α
    sensitivity defined by the sweep's measured E[d_util] (the two-phase DAG)."""
    results, size = smoke_run / "results" / "modelnet40", SMOKE["studies"]["modelnet40"]
    assert (smoke_run / "data" / "modelnet40-fixture" / "night_stand" / "train").is_dir()
    for study, n in (("unimodal", 2), ("sweep", 2 * len(size["sweep"]["lrs"])),
                     ("method_sweep", 2 * len(size["sweep"]["lrs"])), ("l1", len(size["l1"]["lambdas"])),
                     ("table1", 4), ("sensitivity_q", len(size["sensitivity"]["rebalance_steps"])),
                     ("sensitivity_alpha", len(size["sensitivity"]["alpha_fractions"])), ("views", 2)):
        frame = pd.read_csv(results / f"{study}.csv")
        assert len(frame) == n and (frame.status == "completed").all(), study
    l1 = pd.read_csv(results / "l1.csv")
    assert sorted(l1.l1) == sorted(size["l1"]["lambdas"])
    assert sorted(pd.read_csv(results / "sensitivity_q.csv").rebalance_steps) == sorted(size["sensitivity"]["rebalance_steps"])
    expected = json.loads((results / "expected_d_util.json").read_text())
    sweep = pd.read_csv(results / "sweep.csv")
    assert expected["E_d_util"] == pytest.approx(sweep[sweep.pairing == "front+rear"].d_util.mean())
    alphas = sorted(pd.read_csv(results / "sensitivity_alpha.csv").alpha)
    assert alphas == pytest.approx(sorted(f * abs(expected["E_d_util"]) for f in size["sensitivity"]["alpha_fractions"]),
                                   rel=1e-4)
    views = pd.read_csv(results / "views.csv")
    assert set(views.modalities) == {3} and views.branch2_acc.notna().all()


@pytest.mark.e2e
def test_smoke_dag_runs_the_nvgesture_chain_from_the_fixture(smoke_run):
    """NVGesture from a fixture in the real layout (.avi videos, .lst lists): extraction, I3D
    training at reduced resolution and frames, utilization, the figures."""
    results, size = smoke_run / "results" / "nvgesture", SMOKE["studies"]["nvgesture"]
    fixture = smoke_run / "data" / "nvgesture-fixture"
    assert list((fixture / "Video_data").glob("class_*/subject*_r*/sk_color.avi"))
    assert (fixture / "nvgesture_train_correct_cvpr2016_v2.lst").exists()
    n_lrs = size["sweep"]["num_lrs"] * size["sweep"]["runs"]
    for study, n in (("unimodal", 2), ("sweep", 2 * n_lrs), ("method_sweep", 2 * n_lrs), ("table1", 4)):
        frame = pd.read_csv(results / f"{study}.csv")
        assert len(frame) == n and (frame.status == "completed").all(), study
        if study != "unimodal":  # d_util is NaN only where a branch got nothing right (A(f_k) = 0)
            assert (frame.d_util.notna() | (frame.branch0_acc == 0) | (frame.branch1_acc == 0)).all(), study
    table1 = pd.read_csv(results / "table1.csv")
    assert set(table1.pairing) == {"rgb+depth"}
    for figure in ("fig2b", "fig5b", "figlr"):
        assert (smoke_run / "results" / "figures" / f"{figure}.png").stat().st_size > 0
    manifest = json.loads(next((smoke_run / "data" / "nvgesture").glob("*/manifest.json")).read_text())
    assert manifest["mismatched_ranges"]  # the fixture's clip whose depth starts later


@pytest.mark.e2e
def test_html_report_holds_the_rendered_artifacts(smoke_run):
    run(["snakemake", "--configfile", "config/smoke.yaml", "--report", "results/report.html"], smoke_run)
    html = (smoke_run / "results" / "report.html").read_text()
    for name in ("fig7.png", "methods_cmnist.png", "dspeed_steps.png", "table1.md", "report.md"):
        assert name in html, name


@pytest.mark.e2e
def test_smoke_dag_again_does_nothing(smoke_run):
    """The README's command (for real, not a dry run) after the smoke run: no job is run."""
    result = run(["snakemake", "--cores", "2", "--configfile", "config/smoke.yaml"], smoke_run)
    assert "Nothing to be done" in result.stdout + result.stderr, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.e2e
def test_smoke_run_shows_the_papers_effect(smoke_run):
    """The smoke models are small, but a broken guided step, gate or d_util must fail here:
    uni-modal gray >= 90 %, guided at least 10 points above vanilla, vanilla's d_util > 0."""
    unimodal = pd.read_csv(smoke_run / "results" / "cmnist" / "unimodal.csv").set_index("pairing")
    table1 = pd.read_csv(smoke_run / "results" / "cmnist" / "table1.csv").set_index("method")
    assert unimodal.loc["gray", "test_acc"] >= 0.90
    assert unimodal.loc["gray", "test_acc"] > unimodal.loc["mono", "test_acc"] + 0.3
    assert table1.loc["guided", "test_acc"] >= table1.loc["vanilla", "test_acc"] + 0.10
    assert table1.loc["random", "test_acc"] > table1.loc["vanilla", "test_acc"]
    assert table1.loc["vanilla", "d_util"] > 0.1


@pytest.mark.e2e
def test_smoke_outputs_regression(smoke_run, num_regression):
    sweep = pd.read_csv(smoke_run / "results" / "cmnist" / "sweep.csv")
    unimodal = pd.read_csv(smoke_run / "results" / "cmnist" / "unimodal.csv")
    values = {f"{r.pairing}@{r.lr:.3g}/{name}": getattr(r, name)
              for r in sweep.itertuples() for name in ("test_acc", "d_util", "d_speed")}
    values.update({f"unimodal/{r.pairing}/test_acc": r.test_acc for r in unimodal.itertuples()})
    table1 = pd.read_csv(smoke_run / "results" / "cmnist" / "table1.csv")
    values.update({f"table1/{r.method}/{name}": getattr(r, name)
                   for r in table1.itertuples() for name in ("test_acc", "d_util")})
    tolerances = {k: {"atol": 0.03 if k.endswith("test_acc") else 0.1} for k in values}
    num_regression.check({k: [v] for k, v in values.items()}, tolerances=tolerances)


@pytest.mark.e2e
def test_smoke_ablation_regression(smoke_run, num_regression):
    """The official-code ablation at smoke scale: carried evaluation (the official code's) raises
    guided's gray-branch accuracy over clean evaluation, and every number is pinned."""
    table = pd.read_csv(smoke_run / "results" / "tables" / "cmnist_ablation.csv")
    trained = table[table.how == "trained"]
    assert set(trained.method) == {"vanilla", "guided"} and trained.status.eq("completed").all()
    guided = trained[trained.method == "guided"].set_index("variant")
    assert guided.loc["paper", "carried_acc_b1"] > guided.loc["paper", "clean_acc_b1"] + 0.05
    vanilla = trained[trained.method == "vanilla"]
    assert (vanilla.clean_test_acc == vanilla.carried_test_acc).all()  # no re-balancing state to carry
    values = {f"{r.method}/{r.variant}/{state}_{name}": getattr(r, f"{state}_{name}")
              for r in table.itertuples() for state in ("clean", "carried") for name in ("test_acc", "acc_b1")}
    num_regression.check({k: [v] for k, v in values.items()}, tolerances={k: {"atol": 0.03} for k in values})


@pytest.mark.e2e
def test_measured_runs_rebuild_the_same_ablation_table(smoke_run, tmp_path):
    """`greedy measured` keeps the small outputs in git; `greedy render ablation` on them gives the
    table the DAG rendered from the full run folders."""
    run(["greedy", "measured", "--results", str(smoke_run / "results"), "--study", "ablation",
         "--out", str(tmp_path / "measured")], smoke_run)
    kept = tmp_path / "measured" / "cmnist"
    trained = list((smoke_run / "results" / "runs" / "cmnist" / "ablation").rglob("status.json"))
    assert trained and len(list(kept.rglob("metrics.csv"))) == len(trained)  # every run, no checkpoint
    assert not list(kept.rglob("*.pt"))
    out = tmp_path / "rendered"
    run(["greedy", "render", "ablation", "--ablation", str(kept / "ablation.csv"), "--csv", str(out / "t.csv"),
         "--md", str(out / "t.md"), "--png", str(out / "t.png"), "--meta", str(out / "t.meta.json")], smoke_run)
    assert (out / "t.md").read_text() == (smoke_run / "results" / "tables" / "cmnist_ablation.md").read_text()


def test_snakemake_lint_is_clean():
    result = run(["snakemake", "--lint"], REPO, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def _raw_data_in_place(project):
    """Where params.yaml looks for the data sets the pipeline cannot download, something in the
    right place (the plan only looks at paths): ModelNet40's archive, NVGesture's tree."""
    (project / "data" / "shaded_images.tar.gz").write_bytes(b"")
    nvgesture = project / "data" / "nvgesture-raw"
    (nvgesture / "Video_data").mkdir(parents=True)
    for name in ("nvgesture_train_correct_cvpr2016_v2.lst", "nvgesture_test_correct_cvpr2016_v2.lst"):
        (nvgesture / name).write_text("")


def test_paper_scale_without_the_data_runs_the_data_sets_that_are_here_and_says_what_is_missing(tmp_path):
    """A clone has MNIST (downloadable) but neither ModelNet40 nor NVGesture: a plain `snakemake`
    plans CMNIST only, naming each missing data set, its size, where to fetch it and where to put it."""
    project = copy_project(tmp_path)
    result = run(["snakemake", "-n", "--cores", "all", "--quiet", "rules"], project)
    output = result.stdout + result.stderr
    counts = dict(line.split()[:2] for line in result.stdout.splitlines() if line.split()[:1] in (["train"], ["weights"]))
    assert counts == {"train": "433"}, output[-3000:]  # CMNIST's studies only, no Kinetics weights
    assert "Left out of this run, their data is not here: modelnet40, nvgesture" in output
    for expected in ("shaded_images.tar.gz", "about 1.6 GB", str(project / "data" / "shaded_images.tar.gz"),
                     "licence-gated", "about 32 GB", str(project / "data" / "nvgesture-raw" / "Video_data"),
                     "--config 'datasets=[cmnist]'"):
        assert expected in output, expected
    # naming the data sets: no message, the same plan
    named = run(["snakemake", "-n", "--cores", "all", "--quiet", "rules", "--config", "datasets=[cmnist]"], project)
    assert "Left out" not in named.stdout + named.stderr
    assert dict(line.split()[:2] for line in named.stdout.splitlines() if line.split()[:1] == ["train"]) == {"train": "433"}


def test_paper_configuration_dag(tmp_path):
    project = copy_project(tmp_path)
    _raw_data_in_place(project)
    result = run(["snakemake", "-n", "--cores", "all", "--quiet", "rules"], project)
    assert "Left out" not in result.stdout + result.stderr
    counts = dict(line.split()[:2] for line in result.stdout.splitlines()
                  if line.split()[:1] in (["train"], ["utilization"]))
    # CMNIST: 3 pairings x 20 learning rates x 4 runs + 2 x 3 uni-modal baselines + the m0+m1
    # sweep with guided and random (2 x 80) + Table 1 (5 methods x 3 runs) = 421, and the
    # official-code ablation (vanilla and random 3 variants, guided 6) = 433.
    # ModelNet40: 2 x 3 uni-modal + 2 pairings x 9 lrs x 3 runs + guided and random (2 x 27)
    # + L1 (10 x 3) + Table 1 (4 x 3) + Q sensitivity (5 x 3) + three views (2 x 3) = 177;
    # the α sensitivity (5 x 3) joins once the sweep's E[d_util] is measured (a checkpoint).
    # NVGesture: 2 x 3 uni-modal + 2 pairings x 20 lrs x 3 runs + guided and random (2 x 60)
    # + Table 1 scratch (4 x 3) + pretrained (4 x 3) = 270, the pretrained ones after the weights job.
    assert counts == {"train": str(433 + 177 + 270), "utilization": str(433 + 177 + 270)}
    planned = dict(line.split()[:2] for line in result.stdout.splitlines() if line.split()[:1] == ["weights"])
    assert planned == {"weights": "1"}


def test_the_readme_table1_command_on_real_mnist_plans_the_cmnist_column_only(tmp_path):
    project = copy_project(tmp_path)
    result = run(["snakemake", "results/tables/table1.csv", "-n", "--quiet", "rules", "--configfile",
                  "config/real-mnist.yaml"], project)
    counts = dict(line.split()[:2] for line in result.stdout.splitlines() if line.split()[:1] in (["train"], ["table1"]))
    assert counts == {"train": "21", "table1": "1"}, result.stdout[-2000:]


def test_bad_parameter_stops_the_workflow_naming_the_key(tmp_path):
    project = copy_project(tmp_path)
    (project / "bad.yaml").write_text("training:\n  cmnist:\n    epochs: 3\n")
    result = run(["snakemake", "-n", "--cores", "1", "--configfile", "bad.yaml"], project, check=False)
    assert result.returncode != 0 and "epochs" in result.stdout + result.stderr


def test_dvc_outputs_do_not_overlap_and_caches_are_ignored():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    outs = [next(iter(o)) if isinstance(o, dict) else o
            for stage in stages.values() for key in ("outs", "metrics", "plots") for o in stage.get(key, [])]
    assert len(outs) == len(set(outs))
    for a in outs:
        for b in outs:
            assert a == b or not b.startswith(a.rstrip("/") + "/"), (a, b)
    assert "__pycache__/" in (REPO / ".dvcignore").read_text().split()

