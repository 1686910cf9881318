"""The figures of the L1 study (Fig. 3, 4, 8: R(f), |d_util|, |d_speed| against λ and R(f)) and of
the guided method's sensitivity to Q and α (Fig. 9a, 9b).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from greedy import fileio, paper
from greedy.render import figures
from greedy.render.figures import _against
from greedy.render.registry import ARTIFACTS
from greedy.render.stats import (LABELS, _at, _completed, _counted, _ends, _grouped, _mean, _models, _records,
                                 _require, _spearman, stopping, stopping_text, write_meta)


def _l1_study(l1_csv: str) -> pd.DataFrame:
    """The L1 study (ModelNet40, one λ per run in the l1 column) with |d_util| and |d_speed|."""
    frame = pd.read_csv(l1_csv)
    _require(frame, l1_csv, "l1", "R", "d_util", "d_speed")
    return frame.assign(abs_d_util=frame.d_util.abs(), abs_d_speed=frame.d_speed.abs())


def _versus_lambda(artifact_id: str, columns: list[str], l1_csv: str, out_png: str, meta: str, params: dict) -> dict:
    """`columns` of the L1 study against λ on a log axis, mean ± std over seeds, one panel each."""
    frame = _l1_study(l1_csv)
    table = _grouped(frame, "l1", columns)
    unplotted = int((frame.l1 <= 0).sum())  # a log axis has no λ = 0; those runs stay in the meta
    fig, axes = plt.subplots(1, len(columns), figsize=(5 * len(columns), 4), squeeze=False)
    for ax, column, color in zip(axes[0], columns, ["tab:blue", "tab:orange", "tab:green"]):
        _against(ax, frame[frame.l1 > 0], table[table.l1 > 0], "l1", column, color)
        ax.set_xscale("log")
        ax.set_xlabel("L1 weight λ")
    stop = stopping(frame)
    fig.suptitle(f"paper Fig. {artifact_id[3:]}: {paper.ARTIFACTS[artifact_id]}\n{_counted(frame)}; "
                 f"{stopping_text(stop)}" + (f"; {unplotted} runs at λ = 0 not on the log axis" if unplotted else ""),
                 fontsize=9)
    figures._save(fig, out_png)
    summary = {"per_lambda": _records(table, "l1"), "trend": {c: _ends(table, "l1", c) for c in columns}}
    write_meta(meta, artifact_id, [out_png, l1_csv], ARTIFACTS[artifact_id].rule, params, len(frame), **summary,
               lambda_zero_runs=unplotted, paper=paper.ARTIFACTS[artifact_id], stopping=stop,
               caption=stopping_text(stop))
    return summary


def fig3(l1_csv: str, out_png: str, meta: str, params: dict) -> dict:
    """Fig. 3: R(f), the fraction of parameters below 1e-7, against the L1 weight λ."""
    return _versus_lambda("fig3", ["R"], l1_csv, out_png, meta, params)


def fig4(l1_csv: str, out_png: str, meta: str, params: dict) -> dict:
    """Fig. 4: |d_util| and |d_speed| against the L1 weight λ."""
    return _versus_lambda("fig4", ["abs_d_util", "abs_d_speed"], l1_csv, out_png, meta, params)


def fig8(l1_csv: str, out_png: str, meta: str, params: dict) -> dict:
    """Fig. 8: |d_util| and |d_speed| against R(f), one dot per model of the L1 study."""
    frame = _l1_study(l1_csv)
    done = _completed(frame)
    columns = ["abs_d_util", "abs_d_speed"]
    table = _grouped(frame, "l1", ["R", *columns])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, column, color in zip(axes, columns, ["tab:blue", "tab:orange"]):
        ax.scatter(done.R, done[column], s=12, alpha=0.6, color=color, label="one model")
        ax.plot(table.R_mean, table[f"{column}_mean"], "s", color="black", markersize=4, label="mean per λ")
        ax.set_xlabel(LABELS["R"])
        ax.set_ylabel(LABELS[column])
        ax.legend(fontsize=7)
    stop = stopping(frame)
    fig.suptitle(f"paper Fig. 8: {paper.ARTIFACTS['fig8']}\n{_counted(frame)}; {stopping_text(stop)}", fontsize=9)
    figures._save(fig, out_png)
    summary = {"per_lambda": _records(table, "l1"),
               "spearman_with_R": {c: _spearman(done.R, done[c]) for c in columns}}
    write_meta(meta, "fig8", [out_png, l1_csv], ARTIFACTS["fig8"].rule, params, len(frame), **summary,
               paper=paper.ARTIFACTS["fig8"], stopping=stop, caption=stopping_text(stop))
    return summary


def _sensitivity(artifact_id: str, study: pd.DataFrame, by: str, xlabel: str, out_png: str, note: str,
                 mark: float | None = None) -> pd.DataFrame:
    """Fig. 9: d_util and test accuracy (%) against one hyper-parameter of the guided method, on a
    log axis with the studied values as ticks; returns the per-value table."""
    study = study.assign(abs_d_util=study.d_util.abs(), test_acc_pct=100 * study.test_acc)
    table = _grouped(study, by, ["d_util", "abs_d_util", "test_acc_pct"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    _against(axes[0], study, table, by, "d_util", "tab:blue")
    axes[0].axhline(0, color="gray", linestyle="--", linewidth=0.8)
    _against(axes[1], study, table, by, "test_acc_pct", "tab:green")
    for ax in axes:
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(table[by], [f"{x:g}" for x in table[by]])
        ax.set_xlabel(xlabel)
        if mark is not None:
            ax.axvline(mark, color="black", linestyle=":", linewidth=1)
    fig.suptitle(f"paper Fig. {artifact_id[3:]}: {paper.ARTIFACTS[artifact_id]}\n{_counted(study)}; "
                 f"{stopping_text(stopping(study))}{note}", fontsize=9)
    figures._save(fig, out_png)
    return table


def fig9a(sensitivity_csv: str, out_png: str, meta: str, params: dict) -> dict:
    """Fig. 9a: sensitivity of d_util and accuracy to Q, the number of re-balancing steps."""
    frame = pd.read_csv(sensitivity_csv)
    _require(frame, sensitivity_csv, "rebalance_steps", "d_util", "test_acc")
    study = frame[frame.rebalance_steps.notna()]  # rows of other methods have no Q
    outside = len(frame) - len(study)
    table = _sensitivity("fig9a", study, "rebalance_steps", "re-balancing steps Q", out_png,
                         f"; {outside} rows without Q not shown" if outside else "", mark=paper.FIG9["chosen_Q"])
    chosen, lost = paper.FIG9["chosen_Q"], paper.FIG9["Q_loses_control"]
    summary = {"per_Q": _records(table, "rebalance_steps"),
               "measured": {"abs_d_util_at_chosen_Q": _at(table, "rebalance_steps", chosen, "abs_d_util_mean"),
                            "abs_d_util_at_Q_loses_control": _at(table, "rebalance_steps", lost, "abs_d_util_mean")}}
    stop = stopping(study)
    write_meta(meta, "fig9a", [out_png, sensitivity_csv], ARTIFACTS["fig9a"].rule, params, len(study), **summary,
               rows_without_Q=outside, paper=paper.ARTIFACTS["fig9a"],
               paper_values={"chosen_Q": chosen, "Q_loses_control": lost}, stopping=stop, caption=stopping_text(stop))
    return summary


def fig9b(alpha_csv: str, expected_json: str, out_png: str, meta: str, params: dict) -> dict:
    """Fig. 9b: sensitivity of d_util and accuracy to α, as a fraction of |E[d_util]| of vanilla
    (`expected_json`: {"E_d_util", "pairing", "models"})."""
    frame, expected = pd.read_csv(alpha_csv), fileio.read_json(expected_json)
    _require(frame, alpha_csv, "alpha", "d_util", "test_acc")
    scale = abs(float(expected["E_d_util"]))
    study = frame[frame.alpha.notna()]  # rows of other methods have no α
    outside = len(frame) - len(study)
    if not scale > 0:
        # a sweep whose models all have d_util 0 (small smoke runs): every α is 0, the fractions are
        # undefined; plot against α itself and say so rather than stop the DAG
        outside_note = f"E[d_util] measured {expected['E_d_util']}: α fractions undefined, x is α"
        scale = 1.0
    else:
        outside_note = ""
    # the study wrote α = fraction × |E[d_util]| to 6 significant digits: round the quotient's noise away
    study = study.assign(alpha_fraction=[float(f"{a / scale:.4g}") for a in study.alpha])
    if outside_note:
        outside = f"{outside}; {outside_note}" if outside else outside_note
    works = paper.FIG9["alpha_fraction_works"]
    table = _sensitivity("fig9b", study, "alpha_fraction", f"α / |E[d_util]| (|E[d_util]| = {scale:.3g}, "
                         f"{expected.get('pairing', '?')}, {_models(expected.get('models', '?'))})", out_png,
                         f"; {outside} rows without α not shown" if outside else "", mark=works)
    done = _completed(study)
    summary = {"per_alpha_fraction": _records(table, "alpha_fraction"),
               "measured": {"abs_d_util_up_to_works": _mean(done[done.alpha_fraction <= works].d_util.abs()),
                            "abs_d_util_above_works": _mean(done[done.alpha_fraction > works].d_util.abs())}}
    stop = stopping(study)
    write_meta(meta, "fig9b", [out_png, alpha_csv, expected_json], ARTIFACTS["fig9b"].rule, params, len(study),
               **summary, expected=expected, rows_without_alpha=outside, paper=paper.ARTIFACTS["fig9b"],
               paper_values={"alpha_fraction_works": works, "chosen_alpha": paper.FIG9["chosen_alpha"]},
               stopping=stop, caption=stopping_text(stop))
    return summary
