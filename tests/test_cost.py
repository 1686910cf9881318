"""`greedy cost`: throughput on a real loader and model, and the projection's arithmetic."""
import json
import subprocess

import pytest

from greedy import cost
from greedy.config import load_params
from greedy.studies import study_runs

from helpers import REPO


def test_projection_counts_the_dag_jobs_and_multiplies_out_the_hours():
    params = load_params([REPO / "params.yaml"])
    throughput = {"train_samples_per_s": 10.0, "eval_samples_per_s": 40.0, "modalities": ["front", "rear"]}
    rows = {row["study"]: row for row in cost.project(params, "modelnet40", throughput, epochs=2)}
    runs = study_runs(params, "modelnet40", measured={"E_d_util": 0.1})
    # runs of an earlier study's configuration are copied, not trained (Q = 5 is Table 1's guided)
    copied = [rid for rid, run in runs.items() if "same_as" in run]
    assert len(runs) == 192 and len(copied) == 6 and {rid.split("/")[0] for rid in copied} == {
        "sensitivity_q", "sensitivity_alpha"}
    assert rows["total"]["jobs"] == len(runs) - len(copied)
    assert rows["sweep"]["jobs"] == 2 * 9 * 3 and rows["views"]["jobs"] == 2 * 3
    # by hand, one two-branch job: 2 epochs x (7875 / 10 + (1968 + 2468) / 40) + (7875 + 3 x 2468) / 40
    job_s = 2 * (787.5 + 110.9) + (7875 + 3 * 2468) / 40
    assert rows["table1"]["hours"] == pytest.approx(12 * job_s / 3600)
    assert rows["unimodal"]["hours"] == pytest.approx(6 * job_s / 2 / 3600)  # one branch
    assert rows["views"]["hours"] == pytest.approx(6 * job_s * 1.5 / 3600)  # three branches
    assert rows["total"]["hours"] == pytest.approx(sum(r["hours"] for s, r in rows.items() if s != "total"))


def test_cost_command_measures_loader_and_model_on_the_fixture(tmp_path):
    overlay = tmp_path / "bench.yaml"
    overlay.write_text(json.dumps({"data": {"modelnet40": {
        "source": "fixture", "root": str(tmp_path / "fixture"), "out_dir": str(tmp_path / "prepared"),
        "fixture": {"train": 2, "test": 1, "size": 32, "seed": 0}}}}))
    out = tmp_path / "cost.json"
    result = subprocess.run(
        ["greedy", "cost", "--dataset", "modelnet40", "--params", "params.yaml",
         "--measure-params", "params.yaml", "config/smoke.yaml", str(overlay),
         "--steps", "2", "--repeats", "1", "--epochs", "3", "--results", str(tmp_path), "--out", str(out)],
        cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "loader / model" in result.stdout and "epochs per run (assumed" in result.stdout
    figures = json.loads(out.read_text())
    measured = figures["throughput"]
    assert measured["batch_size"] == 8 and measured["input_shapes"] == [[3, 32, 32], [3, 32, 32]]
    assert measured["loader_samples_per_s"] > 0 and measured["train_samples_per_s"] > 0
    assert figures["epochs"] == 3 and figures["projection"][-1]["jobs"] == 186
