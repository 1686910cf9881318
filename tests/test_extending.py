"""docs/extending.md, checked: a toy method and a toy figure, registered the way the page says,
appear in Table 1, in the report, as a `greedy render` command and in the DVC stages; and the
declarations of a method agree with each other, so a new method appears everywhere or fails."""
import json

import pandas as pd
import pytest
import yaml

from greedy import dvcfile, methods
from greedy.config import load_params
from greedy.render import registry
from greedy.render.stats import write_meta
from helpers import REPO

pytestmark = pytest.mark.unit


class Toy(methods.Vanilla):
    """A method that trains exactly as vanilla does: the registries are what is under test."""


def toy_figure(sweep_csv: str, out_png: str, meta: str, params: dict) -> dict:
    frame = pd.read_csv(sweep_csv)
    with open(out_png, "wb") as f:
        f.write(b"not a real PNG")
    summary = {"models": int(len(frame)), "mean test accuracy": round(float(frame["test_acc"].mean()), 3)}
    write_meta(meta, "toy_figure", [out_png], "toy_figure", params, len(frame), summary=summary)
    return summary


TOY_ARTIFACT = registry.Artifact(
    "toy_figure", "figures:toy_figure", "a toy figure: the Table 1 study's test accuracy",
    (registry.SWEEP, registry.PNG, registry.META), rule="toy_figure", datasets=("cmnist",), studies=("table1",),
    inputs={"sweep_csv": "table1.csv"}, outputs={"out_png": "figures/toy.png", "meta": "figures/toy.meta.json"})


@pytest.fixture
def toy(monkeypatch):
    """The toy method and figure, registered as docs/extending.md says (for this test only)."""
    from greedy.render import figures
    monkeypatch.setitem(methods.METHODS, "toy", Toy)
    monkeypatch.setitem(registry.METHODS, "toy", registry.Method("toy (an extension)", "tab:olive", False))
    monkeypatch.setattr(figures, "toy_figure", toy_figure, raising=False)
    monkeypatch.setitem(registry.ARTIFACTS, "toy_figure", TOY_ARTIFACT)


def _study(path, method_accuracies: dict) -> str:
    rows = [{"run": f"{method}/{i}", "pairing": "mono+gray", "modalities": 2, "method": method, "lr": 0.01,
             "seed": i, "status": "completed", "test_acc": acc, "d_util": 0.1, "d_speed": 0.1, "R": 0.0,
             "epochs_run": 3, "stopped_by": "perfect_train", "l1": 0.0}
            for method, accuracies in method_accuracies.items() for i, acc in enumerate(accuracies)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def test_a_toy_method_and_figure_appear_in_table1_the_report_and_the_dvc_stages(toy, tmp_path):
    from greedy import cli, render
    unimodal = tmp_path / "unimodal.csv"
    pd.DataFrame([{"run": f"u/{i}", "pairing": m, "modalities": 1, "method": "vanilla", "lr": 0.01, "seed": i,
                   "status": "completed", "test_acc": acc, "d_util": None, "d_speed": None, "R": None,
                   "epochs_run": 3, "stopped_by": "perfect_train", "l1": 0.0}
                  for m, acc in (("gray", 0.99), ("mono", 0.4)) for i in range(2)]).to_csv(unimodal, index=False)
    table1_csv = _study(tmp_path / "table1.csv", {"vanilla": [0.45, 0.47], "toy": [0.60, 0.62]})

    # Table 1: the toy method's row, with its declared label and no paper number
    table = render.table1(str(unimodal), table1_csv, str(tmp_path / "t1"), str(tmp_path / "t1.meta.json"), params={})
    toy_row = table[(table.dataset == "cmnist") & (table.method == "toy")].iloc[0]
    assert toy_row["row"] == "toy (an extension)" and toy_row["ours_mean"] == pytest.approx(61.0)
    assert "toy (an extension)" in (tmp_path / "t1.md").read_text()

    # the toy figure: a `greedy render` subcommand of its own, its index entry, its report row
    cli.main(["render", "toy_figure", "--sweep", table1_csv, "--png", str(tmp_path / "toy.png"),
              "--meta", str(tmp_path / "toy.meta.json")])
    assert json.loads((tmp_path / "toy.meta.json").read_text())["n_models"] == 4
    report = render.report([str(tmp_path / "t1.meta.json"), str(tmp_path / "toy.meta.json")], "index.json",
                           str(tmp_path / "report.md"))
    assert ("| toy_figure | a toy figure: the Table 1 study's test accuracy | mean test accuracy: 0.535; models: 4 "
            "| 4 | `toy_figure` |") in report
    assert "| table1 toy/cmnist | not in the paper | 61.00±1.41 |" in report  # its Table 1 cell
    assert "| table1: toy (an extension) | 2 |" in report  # how its runs stopped

    # the DVC stages: the figure is an output of the study it reads and an input of the index
    params = load_params([REPO / "params.yaml"])
    dvc = yaml.safe_load(dvcfile.dvc_yaml(params))
    assert "results/figures/toy.png" in dvc["stages"]["cmnist_table1"]["outs"]
    assert "results/figures/toy.meta.json" in dvc["stages"]["cmnist_table1"]["outs"]
    assert "results/figures/toy.meta.json" in dvc["stages"]["results_index"]["deps"]
    assert "results/figures/toy.png" in dvc["plots"]
    assert "figures/toy.meta.json" in registry.meta_files(params["datasets"], params["studies"])  # index, report


def test_every_trained_method_is_declared_for_rendering_and_in_the_schema():
    """A method lives in three places that cannot be one (the trainer's class needs torch, the
    renderer must not load it, the schema is a static file): they must name the same methods. (A
    method in a study CSV with no rendering declaration fails by name: tests/test_render.py.)"""
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "params.schema.yaml").read_text())
    assert set(methods.METHODS) == set(schema["$defs"]["method"]["enum"])
    assert set(methods.METHODS) == set(registry.METHODS) - {"unimodal"}
