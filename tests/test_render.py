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
