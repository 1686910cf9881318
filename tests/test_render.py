"""Table 1 and the report on hand-made study CSVs: the numbers are checked by hand."""
import json

import pandas as pd
import pytest

from greedy import render

pytestmark = pytest.mark.unit


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


# The artifacts beyond CMNIST, on hand-made study CSVs with the columns of `greedy collect`.

def _models(pairing, method="vanilla", n=4, **columns):
    """n rows; each keyword is one value for all rows or a list with one per row."""
    rows = []
    for i in range(n):
        row = {"run": f"{method}/{pairing}/{i}", "pairing": pairing, "modalities": len(pairing.split("+")),
               "method": method, "lr": 0.1, "seed": i, "status": "completed", "test_acc": 0.9, "d_util": 0.0,
               "d_speed": 0.0, "R": 0.0, "epochs_run": 10, "stopped_by": "perfect_train", "l1": 0.0,
               "rebalance_steps": float("nan"), "alpha": float("nan")}
        row.update({k: v[i] if isinstance(v, list) else v for k, v in columns.items()})
        if row["status"] == "diverged":  # diverged runs have no metrics
            row.update(test_acc=float("nan"), d_util=float("nan"), d_speed=float("nan"), R=float("nan"),
                       stopped_by="diverged")
        rows.append(row)
    return rows


def _csv(path, *groups):
    pd.DataFrame([row for group in groups for row in group]).to_csv(path, index=False)
    return str(path)


def _render(*args):
    from greedy import cli
    cli.main(["render", *map(str, args)])


def test_fig2a_is_fig7s_function_with_the_modelnet40_expectations(tmp_path):
    sweep = _csv(tmp_path / "sweep.csv",
                 _models("front+rear", d_util=[-0.1, -0.12, -0.08, 0.0], status=["completed"] * 3 + ["diverged"],
                         stopped_by=["epoch_cap", "perfect_train", "perfect_train", "diverged"]),
                 _models("front+front", d_util=[0.01, -0.01, 0.02, -0.02]))
    _render("fig2a", "--sweep", sweep, "--png", tmp_path / "fig2a.png", "--meta", tmp_path / "fig2a.meta.json",
            "--metrics", tmp_path / "m.json")
    meta = json.loads((tmp_path / "fig2a.meta.json").read_text())
    assert meta["id"] == "fig2a" and meta["rule"] == "sweep_histograms" and meta["n_models"] == 8
    rear = meta["summary"]["front+rear"]
    assert rear["E_d_util"] == pytest.approx(-0.1) and rear["diverged"] == 1 and rear["epoch_cap"] == 1
    assert rear["paper_abs_E_d_util"] == 0.1 and meta["summary"]["front+front"]["paper_abs_E_d_util"] == 0.0
    assert meta["stopping"]["diverged"] == 1 and (tmp_path / "fig2a.png").stat().st_size > 0
    assert json.loads((tmp_path / "m.json").read_text())["front+front"]["models"] == 4
    text = render.report([str(tmp_path / "fig2a.meta.json")], "index.json", str(tmp_path / "r.md"))
    assert "| fig2a front+rear E[d_util] | \\|E\\| ≈ 0.1 | -0.100 (4 models, 1 diverged, 1 at the epoch cap) | agrees |" in text
    assert "| fig7 | " in text and "not yet reproduced" in text  # fig7 without its meta


def test_fig5a_compares_each_methods_mean_with_the_paper(tmp_path):
    sweep = _csv(tmp_path / "sweep.csv", _models("front+rear", d_util=-0.1), _models("front+front", d_util=0.5))
    methods = _csv(tmp_path / "methods.csv", _models("front+rear", "guided", d_util=[0.0, 0.02, -0.02, 0.0]),
                   _models("front+rear", "random", d_util=0.3, status=["completed", "diverged", "completed", "completed"]))
    _render("fig5a", "--sweep", sweep, "--method-sweep", methods, "--pairing", "front+rear",
            "--png", tmp_path / "fig5a.png", "--meta", tmp_path / "fig5a.meta.json")
    meta = json.loads((tmp_path / "fig5a.meta.json").read_text())
    assert meta["id"] == "fig5a" and meta["n_models"] == 12  # front+front vanilla models are not in it
    assert meta["summary"]["vanilla"]["E_d_util"] == pytest.approx(-0.1)
    assert meta["summary"]["vanilla"]["paper_E_d_util"] == -0.1
    assert meta["summary"]["random"]["diverged"] == 1 and meta["stopping"]["diverged"] == 1
    text = render.report([str(tmp_path / "fig5a.meta.json")], "index.json", str(tmp_path / "r.md"))
    assert "| fig5a guided E[d_util] | ≈ -0.0 | +0.000 (4 models, 0 diverged, 0 at the epoch cap) | agrees |" in text
    assert "| fig5a random E[d_util] | ≈ -0.0 | +0.300 (4 models, 1 diverged, 0 at the epoch cap) | differs |" in text


def test_figlr_takes_the_two_modality_pairing_of_each_data_set(tmp_path):
    lrs = [0.001, 0.001, 0.1, 0.1]
    cmnist = _csv(tmp_path / "cmnist.csv", _models("mono+mono", lr=lrs, d_util=9.0),
                  _models("mono+gray", lr=lrs, d_util=[0.4, 0.2, 0.1, float("nan")],
                          status=["completed"] * 3 + ["diverged"]))
    modelnet = _csv(tmp_path / "mn.csv", _models("front", lr=lrs), _models("front+rear", lr=lrs, d_util=-0.1))
    _render("figlr", "--sweep", f"cmnist={cmnist}", f"modelnet40={modelnet}", "--png", tmp_path / "figlr.png",
            "--meta", tmp_path / "figlr.meta.json")
    meta = json.loads((tmp_path / "figlr.meta.json").read_text())
    assert meta["id"] == "figlr" and meta["n_models"] == 8 and meta["stopping"]["diverged"] == 1
    cm = meta["summary"]["cmnist"]
    assert cm["pairing"] == "mono+gray" and cm["other_pairings_not_shown"] == 4 and cm["diverged"] == 1
    assert cm["per_lr"]["0.001"]["d_util_mean"] == pytest.approx(0.3)
    assert cm["per_lr"]["0.1"]["d_util_mean"] == pytest.approx(0.1) and cm["per_lr"]["0.1"]["diverged"] == 1
    assert cm["abs_d_util_trend"]["grows"] is False  # more balanced at the higher learning rate
    assert meta["summary"]["modelnet40"]["pairing"] == "front+rear"
    text = render.report([str(tmp_path / "figlr.meta.json")], "index.json", str(tmp_path / "r.md"))
    assert "| figlr CMNIST mono+gray |" in text and "(does not grow) (4 models, 1 diverged) | qualitative |" in text


def test_figlr_panel_without_a_defined_d_util_is_drawn_and_says_so(tmp_path):
    """d_util is NaN where a branch gets nothing right (a tiny NVGesture model at smoke scale): the
    panel says so on its log axis instead of stopping the whole render with a matplotlib error."""
    cmnist = _csv(tmp_path / "cmnist.csv", _models("mono+gray", n=1, lr=0.02, d_util=0.1))
    nvgesture = _csv(tmp_path / "nvg.csv", _models("rgb+depth", n=1, lr=0.0164, d_util=float("nan")),
                     _models("rgb+rgb", n=1, lr=0.0164, d_util=0.3))
    _render("figlr", "--sweep", f"cmnist={cmnist}", f"nvgesture={nvgesture}", "--png", tmp_path / "figlr.png",
            "--meta", tmp_path / "figlr.meta.json")
    meta = json.loads((tmp_path / "figlr.meta.json").read_text())
    assert (tmp_path / "figlr.png").stat().st_size > 0
    assert meta["summary"]["nvgesture"]["pairing"] == "rgb+depth" and meta["summary"]["nvgesture"]["models"] == 1
    assert meta["summary"]["nvgesture"]["per_lr"]["0.0164"]["d_util_mean"] is None


@pytest.fixture
def unrasterised(monkeypatch):
    """Skip layout and PNG encoding (most of a figure's time on a CPU): for tests about the meta
    of figures whose drawing other tests already exercise (fig3, fig4 and fig8 share it with fig9)."""
    def save(fig, out_png):
        render.figures.plt.close(fig)
        render.figures.fileio.write_text(out_png, "not rasterised in this test")
    monkeypatch.setattr(render.figures, "_save", save)


def test_l1_figures_average_over_seeds_per_lambda(tmp_path, unrasterised):
    lambdas = [1e-9, 1e-9, 1e-5, 1e-5, 1e-3, 1e-3]
    l1 = _csv(tmp_path / "l1.csv", _models("front+rear", n=6, l1=lambdas, R=[0.0, 0.02, 0.1, 0.1, 0.5, 0.7],
                                           d_util=[0.1, -0.1, 0.2, -0.2, 0.6, float("nan")],
                                           d_speed=[0.0, 0.0, 0.5, 0.5, 1.0, float("nan")],
                                           status=["completed"] * 5 + ["diverged"]))
    for name in ("fig3", "fig4", "fig8"):
        _render(name, "--l1", l1, "--png", tmp_path / f"{name}.png", "--meta", tmp_path / f"{name}.meta.json")
        assert (tmp_path / f"{name}.png").stat().st_size > 0
    fig3, fig4, fig8 = (json.loads((tmp_path / f"{n}.meta.json").read_text()) for n in ("fig3", "fig4", "fig8"))
    assert fig3["id"] == "fig3" and fig3["n_models"] == 6 and fig3["stopping"]["diverged"] == 1
    assert fig3["per_lambda"]["1e-09"]["R_mean"] == pytest.approx(0.01)
    assert fig3["per_lambda"]["0.001"]["R_mean"] == pytest.approx(0.5)  # the diverged run is not averaged
    assert fig3["per_lambda"]["0.001"]["diverged"] == 1 and fig3["per_lambda"]["0.001"]["R_std"] is None
    assert fig3["trend"]["R"]["grows"] is True
    assert fig4["per_lambda"]["1e-05"]["abs_d_util_mean"] == pytest.approx(0.2)
    assert fig4["trend"]["abs_d_util"] == {"smallest": 1e-9, "largest": 1e-3, "at_smallest": pytest.approx(0.1),
                                           "at_largest": pytest.approx(0.6), "grows": True}
    assert fig8["spearman_with_R"]["abs_d_speed"] > 0.8
    text = render.report([str(tmp_path / f"{n}.meta.json") for n in ("fig3", "fig4", "fig8")], "index.json",
                         str(tmp_path / "r.md"))
    assert "| fig4 \\|d_util\\| vs λ |" in text and "0.1 at λ 1e-09 → 0.6 at λ 0.001 (grows) | qualitative |" in text
    assert "| fig8 Spearman ρ(\\|d_speed\\|, R(f)) |" in text


def test_l1_figures_need_the_l1_column(tmp_path):
    old = _csv(tmp_path / "old.csv", _models("front+rear"))
    pd.read_csv(old).drop(columns="l1").to_csv(old, index=False)
    with pytest.raises(ValueError, match="no column l1"):
        render.fig3(old, str(tmp_path / "f.png"), str(tmp_path / "f.json"), params={})


def test_fig9_sensitivity_to_q_and_alpha(tmp_path):
    q = _csv(tmp_path / "q.csv", _models("front+rear", "guided", n=6, rebalance_steps=[5, 5, 50, 50, 50, 1],
                                         d_util=[0.01, -0.01, 0.3, -0.5, 0.0, 0.02], test_acc=0.9,
                                         status=["completed"] * 4 + ["diverged", "completed"]),
             _models("front+rear", "vanilla", n=1))
    _render("fig9a", "--sensitivity", q, "--png", tmp_path / "fig9a.png", "--meta", tmp_path / "fig9a.meta.json")
    meta = json.loads((tmp_path / "fig9a.meta.json").read_text())
    assert meta["id"] == "fig9a" and meta["n_models"] == 6 and meta["rows_without_Q"] == 1
    assert meta["per_Q"]["50"]["diverged"] == 1 and meta["per_Q"]["50"]["d_util_mean"] == pytest.approx(-0.1)
    assert meta["per_Q"]["5"]["test_acc_pct_mean"] == pytest.approx(90.0)
    assert meta["measured"] == {"abs_d_util_at_chosen_Q": pytest.approx(0.01),
                                "abs_d_util_at_Q_loses_control": pytest.approx(0.4)}
    assert meta["paper_values"]["chosen_Q"] == 5

    e = -0.2  # vanilla's E[d_util]; the study ran α = fraction × |E|
    fractions = [0.01, 0.01, 0.25, 1.0, 1.0]
    alpha = _csv(tmp_path / "a.csv", _models("front+rear", "guided", n=5, alpha=[f * abs(e) for f in fractions],
                                             d_util=[0.0, 0.02, 0.04, 0.3, float("nan")],
                                             status=["completed"] * 4 + ["diverged"]))
    (tmp_path / "e.json").write_text(json.dumps({"E_d_util": e, "pairing": "front+rear", "models": 27}))
    _render("fig9b", "--alpha-study", alpha, "--expected", tmp_path / "e.json", "--png", tmp_path / "fig9b.png",
            "--meta", tmp_path / "fig9b.meta.json")
    meta = json.loads((tmp_path / "fig9b.meta.json").read_text())
    assert meta["id"] == "fig9b" and sorted(meta["per_alpha_fraction"]) == ["0.01", "0.25", "1"]
    assert meta["per_alpha_fraction"]["1"] | {} == {"models": 2, "diverged": 1, "d_util_mean": pytest.approx(0.3),
                                                    "d_util_std": None, "abs_d_util_mean": pytest.approx(0.3),
                                                    "abs_d_util_std": None, "test_acc_pct_mean": pytest.approx(90.0),
                                                    "test_acc_pct_std": None}
    assert meta["measured"]["abs_d_util_up_to_works"] == pytest.approx(0.02)
    assert meta["expected"]["E_d_util"] == e and meta["stopping"]["diverged"] == 1
    text = render.report([str(tmp_path / "fig9a.meta.json"), str(tmp_path / "fig9b.meta.json")], "index.json",
                         str(tmp_path / "r.md"))
    assert "Q 1: d_util +0.020, accuracy 90.00 % (1 model, 0 diverged); Q 5:" in text  # in numeric order
    assert "Q 50: d_util -0.100, accuracy 90.00 % (3 models, 1 diverged)" in text
    assert "α/E 0.25: d_util +0.040" in text


def test_three_views_table_beside_the_papers_text(tmp_path):
    views = _csv(tmp_path / "views.csv", _models("view0+view4+view8", n=3, test_acc=[0.91, 0.92, 0.93], d_util=0.1),
                 _models("view0+view4+view8", "guided", n=3, test_acc=[0.92, 0.93, float("nan")],
                         status=["completed", "completed", "diverged"]))
    _render("views", "--views", views, "--md", tmp_path / "views.md", "--meta", tmp_path / "views.meta.json")
    meta = json.loads((tmp_path / "views.meta.json").read_text())
    assert meta["id"] == "text:modelnet40_three_views" and meta["n_models"] == 6
    assert meta["values"]["vanilla"] == pytest.approx(92.0) and meta["values"]["guided"] == pytest.approx(92.5)
    assert meta["paper"] == {"vanilla": 91.21, "guided": 92.45} and meta["stopping"]["diverged"] == 1
    md = (tmp_path / "views.md").read_text()
    assert "| vanilla  | 92.00 ± 1.00" in md and "+0.100" in md and "91.21" in md
    text = render.report([str(tmp_path / "views.meta.json")], "index.json", str(tmp_path / "r.md"))
    assert "| text: ModelNet40 three views guided | 92.45 % | 92.50 ± 0.71 % | agrees | 6 |" in text
    assert "three views" not in next(line for line in text.splitlines() if "other quoted numbers" in line)


def test_unimodal_names_the_artifact_after_its_data_set(tmp_path):
    uni = _csv(tmp_path / "uni.csv", _models("front", n=2, test_acc=[0.88, 0.90]),
               _models("rear", n=2, test_acc=[0.70, 0.72]))
    _render("unimodal", "--sweep", uni, "--csv", tmp_path / "u.csv", "--md", tmp_path / "u.md",
            "--meta", tmp_path / "u.meta.json", "--dataset", "modelnet40")
    meta = json.loads((tmp_path / "u.meta.json").read_text())
    assert meta["id"] == "text:modelnet40_unimodal" and meta["rule"] == "unimodal_table"
    assert meta["paper"] == {"front": 89.0, "rear": 88.0} and meta["values"]["front"] == pytest.approx(89.0)
    text = render.report([str(tmp_path / "u.meta.json")], "index.json", str(tmp_path / "r.md"))
    assert "| text: ModelNet40 uni-modal front | 89 % | 89.00 % | agrees |" in text
    assert "| text: ModelNet40 uni-modal rear | 88 % | 71.00 % | differs |" in text


def test_table1_fills_every_data_set_given(studies):
    mn_uni = _csv(studies / "mn_uni.csv", _models("front", n=2, test_acc=[0.88, 0.90]), _models("rear", n=2))
    mn_t1 = _csv(studies / "mn_t1.csv", _models("front+rear", n=3, test_acc=[0.90, 0.91, 0.92],
                                                 stopped_by=["epoch_cap", "perfect_train", "perfect_train"]),
                 _models("front+rear", "guided", n=2, status=["completed", "diverged"]))
    # a bare path is CMNIST's, as before the other data sets
    _render("table1", "--unimodal", studies / "unimodal.csv", f"modelnet40={mn_uni}",
            "--table1", f"cmnist={studies / 'table1.csv'}", f"modelnet40={mn_t1}",
            "--out-prefix", studies / "t1", "--meta", studies / "t1.meta.json")
    table = pd.read_csv(studies / "t1.csv")
    assert list(table.columns) == render.TABLE1_CSV_COLUMNS
    status = table.set_index(["method", "dataset"]).status
    assert status["vanilla", "modelnet40"] == status["vanilla", "cmnist"] == "reproduced"
    assert status["rubi", "modelnet40"] == status["vanilla", "nvgesture_scratch"] == "not yet reproduced"
    mn = table[table.dataset == "modelnet40"].set_index("method")
    assert mn.loc["unimodal", "ours_mean"] == pytest.approx(90.0)  # front, 99 vs 90: best of front and rear
    assert mn.loc["vanilla", "ours_mean"] == pytest.approx(91.0) and mn.loc["vanilla", "epoch_cap_runs"] == 1
    assert mn.loc["guided", "diverged"] == 1
    md = (studies / "t1.md").read_text()
    assert "CMNIST runs at the epoch cap" in md and "ModelNet40 epochs per run" in md and "1 of 3" in md
    meta = json.loads((studies / "t1.meta.json").read_text())
    assert meta["n_models"] == 6 + 3 + 5 + 2  # both Table 1 CSVs and each best uni-modal modality
    assert meta["stopping"]["vanilla/modelnet40"]["epoch_cap"] == 1 and meta["stopping"]["vanilla"]["runs"] == 3
    assert meta["branches"]["guided"]["gray"][0] == pytest.approx(97.0)  # CMNIST keys as before
    text = render.report([str(studies / "t1.meta.json")], "index.json", str(studies / "r.md"))
    assert "| table1 vanilla/modelnet40 | 90.09±0.58 | 91.00±1.00 | agrees |" in text
    assert "| table1 rubi/modelnet40 | 90.45±0.58 | not yet reproduced | — | 0 | — |" in text
    assert "| table1 guided/nvgesture_pretrained | 83.82±1.45 | not yet reproduced |" in text
    assert "| table1: vanilla (ModelNet40) | 3 | 1 of 3 | 0 | 10, 10, 10 |" in text


def test_scale_notes_name_fixtures_and_reduced_runs():
    notes = "\n".join(render.scale_notes({"data.cmnist": {"train_size": 3000}, "training.cmnist": {"max_epochs": 15},
                                           "data.modelnet40": {"source": "fixture"},
                                           "data.nvgesture": {"source": "nvgesture"}}))
    assert "Colored-and-gray-MNIST: reduced scale**: 3,000 training digits, at most 15 epochs" in notes
    assert "ModelNet40: a generated fixture" in notes and "NVGesture: the real data" in notes
    assert render.scale_notes({}) == []


def test_a_method_without_a_declaration_fails_by_name(studies, tmp_path):
    """Table 1's row label and Fig. 5's colour come from registry.METHODS: an undeclared method is an
    error naming it, never a row or a histogram that silently vanishes."""
    runs = pd.read_csv(studies / "table1.csv").assign(method="mystery")
    runs.to_csv(tmp_path / "t1.csv", index=False)
    with pytest.raises(ValueError, match="'mystery' has no declaration"):
        render.table1(str(studies / "unimodal.csv"), str(tmp_path / "t1.csv"), str(tmp_path / "t1"),
                      str(tmp_path / "t1.meta.json"), params={})
    sweep = _csv(tmp_path / "sweep.csv", _models("front+rear", n=2))
    methods = _csv(tmp_path / "methods.csv", _models("front+rear", "mystery", n=2))
    with pytest.raises(SystemExit, match="'mystery' has no declaration"):  # the CLI's one-line error
        _render("fig5a", "--sweep", sweep, "--method-sweep", methods, "--pairing", "front+rear",
                "--png", tmp_path / "f.png", "--meta", tmp_path / "f.meta.json")


def test_registry_declares_each_artifact_once():
    """meta_files() follow the data sets and studies configured; every paper artifact has its entry."""
    from greedy import paper
    from greedy.render.registry import ARTIFACTS, meta_files
    studies = {"cmnist": {"unimodal": {}, "sweep": {}, "method_sweep": {}, "table1": {}},
               "modelnet40": {"unimodal": {}, "sweep": {}, "method_sweep": {}, "l1": {}, "views": {}}}
    assert meta_files(["cmnist"], studies) == [
        "tables/table1.meta.json", "tables/cmnist_unimodal.meta.json", "figures/fig7.meta.json",
        "figures/methods_cmnist.meta.json", "figures/dspeed_steps.meta.json"]  # no ablation study: no ablation
    both = meta_files(["cmnist", "modelnet40"], studies)
    assert "figures/fig3.meta.json" in both and "figures/fig9a.meta.json" not in both  # no sensitivity study
    assert both[-1] == "figures/figlr.meta.json"
    assert {a.paper for a in ARTIFACTS.values()} - {None} == set(paper.ARTIFACTS)
