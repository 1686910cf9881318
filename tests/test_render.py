"""Table 1 and the report on hand-made study CSVs: the numbers are checked by hand."""
import json

import pandas as pd
import pytest

from greedy import render


def _runs(method, pairing, accs, branches=None, status=None):
    rows = []
    for i, acc in enumerate(accs):
        row = {"run": f"{method}/{i}", "pairing": pairing, "method": method, "lr": 0.01, "seed": i,
               "status": (status or ["completed"] * len(accs))[i], "test_acc": acc}
        if branches:
            row.update(branch0_acc=branches[0][i], branch1_acc=branches[1][i])
        rows.append(row)
    return rows


@pytest.fixture
def studies(tmp_path):
    unimodal = pd.DataFrame(_runs("vanilla", "gray", [0.99, 0.98, 0.97]) + _runs("vanilla", "mono", [0.4, 0.3, 0.35]))
    table1 = pd.DataFrame(
        _runs("vanilla", "mono+gray", [0.45, 0.46, 0.44], [[0.3] * 3, [0.5] * 3])
        + _runs("guided", "mono+gray", [0.80, 0.90, float("nan")], [[0.3, 0.3, 0.1], [0.96, 0.98, 0.1]],
                status=["completed", "completed", "diverged"]))
    unimodal.to_csv(tmp_path / "unimodal.csv", index=False)
    table1.to_csv(tmp_path / "table1.csv", index=False)
    return tmp_path


def test_table1_cells_are_mean_std_beside_the_paper(studies):
    table = render.table1(str(studies / "unimodal.csv"), str(studies / "table1.csv"),
                          str(studies / "t1"), str(studies / "t1.meta.json"), params={})
    cmnist = table[table.dataset == "cmnist"].set_index("method")
    # uni-modal best is gray: mean of 99, 98, 97 = 98 ± 1 (sample std)
    assert cmnist.loc["unimodal", "ours_mean"] == pytest.approx(98.0)
    assert cmnist.loc["unimodal", "ours_std"] == pytest.approx(1.0)
    assert cmnist.loc["vanilla", "ours_mean"] == pytest.approx(45.0)
    assert cmnist.loc["vanilla", "difference"] == pytest.approx(45.0 - 45.26)
    assert bool(cmnist.loc["vanilla", "within_2_std"])          # |−0.26| ≤ 2 × 0.46
    # the diverged guided run is counted, not averaged: (80 + 90) / 2
    assert cmnist.loc["guided", "ours_mean"] == pytest.approx(85.0)
    assert cmnist.loc["guided", "diverged"] == 1 and cmnist.loc["guided", "runs"] == 3
    assert not bool(cmnist.loc["guided", "within_2_std"])
    assert (table[table.dataset != "cmnist"].status == "not yet reproduced").all()
    assert "RUBi" in (studies / "t1.md").read_text()  # a paper row with no runs is still listed
    meta = json.loads((studies / "t1.meta.json").read_text())
    assert meta["branches"]["guided"]["gray"][0] == pytest.approx(97.0)
    assert meta["branches"]["vanilla"]["mono"][0] == pytest.approx(30.0)


def test_report_gives_the_guided_gray_branch_a_verdict(studies):
    render.table1(str(studies / "unimodal.csv"), str(studies / "table1.csv"),
                  str(studies / "t1"), str(studies / "t1.meta.json"), params={})
    (studies / "uni.meta.json").write_text(json.dumps(
        {"id": "text:cmnist_unimodal", "n_models": 6, "values": {"gray": 98.0, "mono": 35.0}}))
    text = render.report([str(studies / "t1.meta.json"), str(studies / "uni.meta.json")],
                         str(studies / "index.json"), str(studies / "report.md"))
    row = next(line for line in text.splitlines() if "guided CMNIST gray branch" in line)
    assert "99.16±0.14 %" in row and "97.00±1.41 %" in row and "differs" in row
    other = next(line for line in text.splitlines() if "other quoted numbers" in line)
    assert "gray branch" not in other and "ModelNet40 front" in other
    assert "| text: CMNIST uni-modal gray | 99 % | 98.00 % | agrees |" in text


def test_table1_and_report_show_how_the_runs_stopped(tmp_path):
    """epochs_run and stopped_by (from status.json through utilization.json and `greedy collect`)
    reach Table 1 (csv, md, tex), its meta and the report."""
    def runs(method, pairing, epochs, stopped_by):
        return [{"run": f"{method}/{i}", "pairing": pairing, "method": method, "lr": 0.01, "seed": i,
                 "status": "diverged" if s == "diverged" else "completed",
                 "test_acc": float("nan") if s == "diverged" else 0.5, "epochs_run": e, "stopped_by": s}
                for i, (e, s) in enumerate(zip(epochs, stopped_by))]
    pd.DataFrame(runs("vanilla", "gray", [12, 14, 13], ["perfect_train"] * 3)
                 + runs("vanilla", "mono", [20, 20, 20], ["epoch_cap"] * 3)).to_csv(tmp_path / "uni.csv", index=False)
    pd.DataFrame(runs("vanilla", "mono+gray", [20, 16, 20], ["epoch_cap", "perfect_train", "epoch_cap"])
                 + runs("guided", "mono+gray", [20, 3, 20], ["epoch_cap", "diverged", "epoch_cap"])
                 ).to_csv(tmp_path / "t1.csv", index=False)
    table = render.table1(str(tmp_path / "uni.csv"), str(tmp_path / "t1.csv"), str(tmp_path / "t1"),
                          str(tmp_path / "t1.meta.json"), params={})
    cmnist = table[table.dataset == "cmnist"].set_index("method")
    assert cmnist.loc["vanilla", "epoch_cap_runs"] == 2 and cmnist.loc["vanilla", "epochs"] == "20, 16, 20"
    assert cmnist.loc["guided", "epoch_cap_runs"] == 2 and cmnist.loc["guided", "epochs"] == "20, 3, 20"
    assert cmnist.loc["unimodal", "epoch_cap_runs"] == 0 and cmnist.loc["unimodal", "epochs"] == "12, 14, 13"
    md = (tmp_path / "t1.md").read_text()
    assert "CMNIST runs at the epoch cap" in md and "2 of 3" in md and "12, 14, 13" in md
    assert "epoch cap" in (tmp_path / "t1.tex").read_text()
    meta = json.loads((tmp_path / "t1.meta.json").read_text())
    assert meta["stopping"]["vanilla"] == {"runs": 3, "epoch_cap": 2, "diverged": 0, "epochs": [20, 16, 20]}
    assert "vanilla: 2 of 3 runs stopped at the epoch cap" in meta["caption"]
    text = render.report([str(tmp_path / "t1.meta.json")], str(tmp_path / "index.json"), str(tmp_path / "r.md"))
    assert "| table1: guided | 3 | 2 of 3 | 1 | 20, 3, 20 |" in text


def test_fig7_says_how_many_runs_hit_the_epoch_cap(tmp_path):
    rows = [{"run": f"r{i}", "pairing": "mono+gray", "method": "vanilla", "lr": 0.01 * (i + 1), "seed": 0,
             "status": "completed", "test_acc": 0.5, "d_util": 0.1 * i, "d_speed": -0.1 * i,
             "epochs_run": 20 if i < 2 else 9, "stopped_by": "epoch_cap" if i < 2 else "perfect_train"}
            for i in range(5)]
    pd.DataFrame(rows).to_csv(tmp_path / "sweep.csv", index=False)
    summary = render.fig7(str(tmp_path / "sweep.csv"), str(tmp_path / "fig7.png"), str(tmp_path / "fig7.meta.json"),
                          params={})
    assert summary["mono+gray"]["epoch_cap"] == 2
    meta = json.loads((tmp_path / "fig7.meta.json").read_text())
    assert meta["caption"] == "2 of 5 runs stopped at the epoch cap"


def test_render_cli_dispatches_through_the_registry(studies, capsys):
    from greedy import cli
    cli.main(["render", "table1", "--unimodal", str(studies / "unimodal.csv"), "--table1", str(studies / "table1.csv"),
              "--out-prefix", str(studies / "t1"), "--meta", str(studies / "t1.meta.json"),
              "--params-json", '{"a": 1}'])
    assert json.loads((studies / "t1.meta.json").read_text())["params"] == {"a": 1}
    assert (studies / "t1.tex").exists()
