"""Tables, figures and the results index.

Every rendered artifact also writes `<artifact>.meta.json` (its id from REFERENCE section 1, the
files, the rule and parameters that made it, how many models are behind it and how they stopped,
the paper's values beside ours); `greedy index` merges them into results/index.json and
`greedy report` writes results/report.md. `greedy render <artifact>` makes one artifact of the
registry ARTIFACTS.

Study CSVs (`greedy collect`) have one row per trained model. Diverged models have no metrics:
they are counted in every title and meta, never averaged and never dropped silently.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.stats import gaussian_kde, spearmanr  # noqa: E402

from greedy import ablation, io, paper  # noqa: E402


def write_meta(path, artifact_id: str, paths: list[str], rule: str, params: dict, n_models: int,
               **extra) -> None:
    io.write_json(path, {"id": artifact_id, "paths": [str(p) for p in paths], "rule": rule,
                         "params": params, "n_models": int(n_models), **extra})


def stopping(frame: pd.DataFrame) -> dict:
    """How the runs of `frame` stopped (from the study CSV's stopped_by and epochs_run columns):
    runs, how many hit the epoch cap (training accuracy not 100 % for long enough), how many
    diverged, and the epochs each ran, in seed order."""
    out = {"runs": int(len(frame)), "epoch_cap": None, "diverged": int((frame["status"] == "diverged").sum()),
           "epochs": []}
    if "stopped_by" in frame:
        out["epoch_cap"] = int((frame["stopped_by"] == "epoch_cap").sum())
    if "epochs_run" in frame:
        ordered = frame.sort_values("seed") if "seed" in frame else frame
        out["epochs"] = [int(e) for e in ordered["epochs_run"].dropna()]
    return out


def stopping_text(s: dict) -> str:
    """ "n of N runs stopped at the epoch cap" (or that it was not recorded)."""
    if s.get("epoch_cap") is None:
        return f"epoch cap not recorded for {s['runs']} runs"
    return f"{s['epoch_cap']} of {s['runs']} runs stopped at the epoch cap"


def _epochs(s: dict, listed: int = 12) -> str:
    """The epochs per run, "12, 14, 13"; for many runs their range and median."""
    epochs = s["epochs"]
    if len(epochs) > listed:
        return f"{min(epochs)}–{max(epochs)} (median {float(np.median(epochs)):g})"
    return ", ".join(str(e) for e in epochs) or "—"


def _short(dataset: str) -> str:
    """A data set's name in table headers and report rows ("CMNIST", the paper's own short form)."""
    return {"cmnist": "CMNIST", "nvgesture": "NVGesture"}.get(dataset, paper.DATASET_TITLES.get(dataset, dataset))


# How derived columns read on axes and in the report.
LABELS = {"abs_d_util": "|d_util|", "abs_d_speed": "|d_speed|", "R": "R(f)", "test_acc_pct": "test accuracy (%)"}


def _completed(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["status"] == "completed"]


def _diverged(frame: pd.DataFrame) -> int:
    return int((frame["status"] == "diverged").sum())


def _counted(frame: pd.DataFrame) -> str:
    """ "n models, k diverged (excluded)" for a figure title."""
    return f"{_models(len(_completed(frame)))}, {_diverged(frame)} diverged (excluded)"


def _number(value) -> float | None:
    """A number for a meta.json: None where it is missing or not finite."""
    return None if value is None or not np.isfinite(value) else float(value)


def _mean(values: pd.Series) -> float | None:
    return _number(values.mean())  # NaN (no value) becomes None


def _mean_std(values: pd.Series) -> tuple[float, float]:
    """Mean and sample std of accuracies (fractions) in percent; NaN where undefined."""
    values = 100 * values.dropna()
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else float("nan")


def _named_csvs(items, default: str | None = None) -> dict[str, str]:
    """`DATASET=CSV` items as {dataset: csv}. A bare path (no "=" before its first "/") belongs to
    `default`, so that Table 1 calls from before the other data sets (one CMNIST CSV) still work."""
    named = {}
    for item in [items] if isinstance(items, (str, Path)) else items:
        name, sep, path = str(item).partition("=")
        if not sep or not name or "/" in name:
            if default is None:
                raise ValueError(f"{item!r}: expected DATASET=CSV")
            name, path = default, str(item)
        if name in named:
            raise ValueError(f"data set {name!r} given twice")
        named[name] = path
    return named


def _require(frame: pd.DataFrame, path: str, *columns: str) -> None:
    missing = [c for c in columns if c not in frame]
    if missing:
        raise ValueError(f"{path}: no column {', '.join(missing)}; collect the study again with a current "
                         "`greedy collect`")


def _grouped(frame: pd.DataFrame, by: str, columns: list[str]) -> pd.DataFrame:
    """One row per value of `by`, in increasing order: models, diverged, and the mean and sample
    std of each column over the completed models (NaN where there are none, or one for a std)."""
    rows = []
    for x, group in frame.groupby(by, sort=True):
        done = _completed(group)
        row = {by: float(x), "models": len(group), "diverged": _diverged(group)}
        for column in columns:
            values = done[column].dropna()
            row[f"{column}_mean"] = values.mean() if len(values) else np.nan
            row[f"{column}_std"] = values.std(ddof=1) if len(values) > 1 else np.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=[by, "models", "diverged"]
                        + [f"{c}_{s}" for c in columns for s in ("mean", "std")])


def _records(table: pd.DataFrame, by: str) -> dict:
    """`_grouped`'s table for a meta.json: {"<value of by>": {column: number or null}}."""
    return {f"{row[by]:g}": {k: int(v) if k in ("models", "diverged") else _number(v)
                             for k, v in row.items() if k != by}
            for row in table.to_dict("records")}


def _ends(table: pd.DataFrame, by: str, column: str) -> dict | None:
    """The mean of `column` at the smallest and at the largest value of `by` that have one, and
    whether it grew: a measurement for the report, not an assertion."""
    have = table[table[f"{column}_mean"].notna()]
    if len(have) < 2:
        return None
    first, last = have.iloc[0], have.iloc[-1]
    return {"smallest": float(first[by]), "largest": float(last[by]),
            "at_smallest": float(first[f"{column}_mean"]), "at_largest": float(last[f"{column}_mean"]),
            "grows": bool(last[f"{column}_mean"] > first[f"{column}_mean"])}


def _save(fig, out_png: str) -> None:
    """Lay the figure out and write it atomically (a killed job leaves no half-written PNG)."""
    fig.tight_layout()
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(out_png).with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(out_png)


def unimodal(sweep_csv: str, out_csv: str, out_md: str, meta: str, params: dict,
             metrics: str | None = None, dataset: str = "cmnist") -> pd.DataFrame:
    """Uni-modal test accuracy per modality beside the numbers quoted in the paper's text."""
    frame = pd.read_csv(sweep_csv)
    quoted = paper.UNIMODAL_TEXT.get(dataset, {})
    rows = []
    for modality, group in frame.groupby("pairing"):
        acc = 100 * _completed(group)["test_acc"]
        stop = stopping(group)
        rows.append({"modality": modality, "runs": len(group), "diverged": _diverged(group),
                     "test_acc_mean": acc.mean(), "test_acc_std": acc.std(ddof=1) if len(acc) > 1 else float("nan"),
                     "paper_test_acc (text)": quoted.get(modality),
                     "epoch_cap_runs": stop["epoch_cap"], "epochs": _epochs(stop)})
    table = pd.DataFrame(rows)
    io.write_csv(out_csv, table)
    io.write_text(out_md, table.to_markdown(index=False, floatfmt=".2f") + "\n")
    write_meta(meta, f"text:{dataset}_unimodal", [out_csv, out_md], "unimodal_table", params, len(frame),
               values={r["modality"]: _number(r["test_acc_mean"]) for r in rows}, paper=quoted,
               stopping=stopping(frame))
    if metrics:
        io.write_json(metrics, {r["modality"]: {k: r[k] for k in ("test_acc_mean", "test_acc_std", "runs", "diverged")}
                                for r in rows})
    return table


def _models(n) -> str:
    return f"{n} model" + ("" if n == 1 else "s")


def _histogram(ax, values: np.ndarray, color: str, label: str) -> None:
    ax.set_ylabel("density (of models)")
    values = values[np.isfinite(values)]
    if len(values) == 0:
        ax.text(0.5, 0.5, "no finished models", ha="center", va="center", transform=ax.transAxes)
        return
    ax.hist(values, bins=min(20, max(5, len(values) // 2)), density=True, alpha=0.45, color=color, label=label)
    if len(values) > 2 and np.ptp(values) > 0:
        grid = np.linspace(values.min() - 0.1 * np.ptp(values), values.max() + 0.1 * np.ptp(values), 200)
        ax.plot(grid, gaussian_kde(values)(grid), color=color)
    ax.axvline(0.0, color="black", linestyle="--", linewidth=1)
    ax.axvline(values.mean(), color=color, linestyle="--", linewidth=1.5, label=f"E = {values.mean():.3f}")
    ax.legend(fontsize=7)


def _pairing_histograms(artifact_id: str, title: str, expected: dict, dataset: str, rule: str, sweep_csv: str,
                        out_png: str, meta: str, params: dict, metrics: str | None = None) -> dict:
    """Histograms and density estimates of d_util and d_speed per modality pairing of a
    learning-rate sweep (Fig. 7, Fig. 2a); `expected` is the paper's |E[d_util]| per pairing."""
    frame = pd.read_csv(sweep_csv)
    configured = ["+".join(p) for p in params.get(f"studies.{dataset}.sweep", {}).get("pairings", [])]
    pairings = [p for p in configured if p in set(frame["pairing"])] or list(dict.fromkeys(frame["pairing"]))
    fig, axes = plt.subplots(2, len(pairings), figsize=(4 * len(pairings), 6), squeeze=False)
    summary = {}
    for j, pairing in enumerate(pairings):
        group = frame[frame["pairing"] == pairing]
        done = _completed(group)
        stop = stopping(group)
        summary[pairing] = {"models": len(group), "diverged": _diverged(group), "epoch_cap": stop["epoch_cap"],
                            "E_d_util": _mean(done["d_util"]), "E_d_speed": _mean(done["d_speed"]),
                            "paper_abs_E_d_util": expected.get(pairing)}
        _histogram(axes[0, j], done["d_util"].to_numpy(float), "tab:blue", "d_util")
        _histogram(axes[1, j], done["d_speed"].to_numpy(float), "tab:orange", "d_speed")
        axes[0, j].set_title(f"{pairing}: {_counted(group)}\n{stopping_text(stop)}", fontsize=9)
        axes[0, j].set_xlabel("d_util")
        axes[1, j].set_xlabel("d_speed")
    reference = ", ".join(f"{p} ≈ {expected[p]}" for p in pairings if p in expected) or "none for these pairings"
    fig.suptitle(f"{title}\npaper |E[d_util]|: {reference}", fontsize=10)
    _save(fig, out_png)
    stop = stopping(frame)
    write_meta(meta, artifact_id, [out_png, sweep_csv], rule, params, len(frame), summary=summary,
               paper=paper.ARTIFACTS[artifact_id], stopping=stop, caption=stopping_text(stop))
    if metrics:
        io.write_json(metrics, summary)
    return summary


def fig7(sweep_csv: str, out_png: str, meta: str, params: dict, metrics: str | None = None) -> dict:
    """Fig. 7: d_util and d_speed of the Colored-and-gray-MNIST learning-rate sweep."""
    return _pairing_histograms("fig7", "Colored-and-gray-MNIST learning-rate sweep, paper Fig. 7",
                               paper.FIG7_ABS_E_D_UTIL, "cmnist", "sweep_histograms", sweep_csv, out_png, meta, params,
                               metrics)


def fig2a(sweep_csv: str, out_png: str, meta: str, params: dict, metrics: str | None = None) -> dict:
    """Fig. 2a: d_util and d_speed of the ModelNet40 learning-rate sweep (front+rear vs front+front)."""
    return _pairing_histograms("fig2a", "ModelNet40 learning-rate sweep, paper Fig. 2a",
                               paper.FIG2A_ABS_E_D_UTIL, "modelnet40", "sweep_histograms", sweep_csv, out_png, meta,
                               params, metrics)


def fig2b(sweep_csv: str, out_png: str, meta: str, params: dict, metrics: str | None = None) -> dict:
    """Fig. 2b: d_util and d_speed of the NVGesture learning-rate sweep (rgb+depth vs rgb+rgb)."""
    return _pairing_histograms("fig2b", "NVGesture learning-rate sweep, paper Fig. 2b",
                               paper.FIG2B_ABS_E_D_UTIL, "nvgesture", "sweep_histograms", sweep_csv, out_png, meta,
                               params, metrics)


def _method_histograms(artifact_id: str, title: str, expected: dict, rule: str, reference: str, sweep_csv: str,
                       method_sweep_csv: str, pairing: str, out_png: str, meta: str, params: dict) -> dict:
    """d_util histograms of the vanilla, guided and random learning-rate sweeps of one pairing
    (Fig. 5); `expected` is the paper's E[d_util] per method, `reference` its statement."""
    sweep, method_sweep = pd.read_csv(sweep_csv), pd.read_csv(method_sweep_csv)
    # vanilla models come from the learning-rate sweep; the method sweep trains the other methods
    # at the same learning rates
    frame = pd.concat([sweep[(sweep.pairing == pairing) & (sweep.method == "vanilla")],
                       method_sweep[method_sweep.pairing == pairing]])
    fig, ax = plt.subplots(figsize=(7, 5))
    summary = {}
    for method, color in zip(dict.fromkeys(frame.method), ["tab:gray", "tab:green", "tab:purple", "tab:red"]):
        group = frame[frame.method == method]
        summary[method] = {"models": len(group), "diverged": _diverged(group),
                           "epoch_cap": stopping(group)["epoch_cap"],
                           "E_d_util": _mean(_completed(group).d_util), "paper_E_d_util": expected.get(method)}
        _histogram(ax, _completed(group).d_util.to_numpy(float), color, method)
    ax.set_xlabel("d_util")
    stop = stopping(frame)
    counts = f"{pairing}: " + ", ".join(f"{m} {s['models']} ({s['diverged']} diverged)" for m, s in summary.items())
    expectation = [f"paper E[d_util]: {', '.join(f'{m} ≈ {v:+.1f}' for m, v in expected.items())}"] if expected else []
    ax.set_title("\n".join([title, *expectation, f"{_models(counts)}", stopping_text(stop)]), fontsize=8)
    _save(fig, out_png)
    write_meta(meta, artifact_id, [out_png, sweep_csv, method_sweep_csv], rule, params, len(frame),
               summary=summary, paper=reference, stopping=stop, caption=stopping_text(stop))
    return summary


def fig5c(sweep_csv: str, method_sweep_csv: str, pairing: str, out_png: str, meta: str, params: dict) -> dict:
    """Fig. 5 on CMNIST, an extension: the paper shows it for ModelNet40 and NVGesture only."""
    return _method_histograms("fig5c", "Colored-and-gray-MNIST (extension of the paper's Fig. 5)", {}, "method_histograms",
                              "extension: the paper shows Fig. 5 for ModelNet40 and NVGesture only",
                              sweep_csv, method_sweep_csv, pairing, out_png, meta, params)


def fig5a(sweep_csv: str, method_sweep_csv: str, pairing: str, out_png: str, meta: str, params: dict) -> dict:
    """Fig. 5a: d_util of the vanilla, guided and random ModelNet40 sweeps."""
    return _method_histograms("fig5a", "ModelNet40, paper Fig. 5a",
                              paper.FIG5A_E_D_UTIL, "method_histograms", paper.ARTIFACTS["fig5a"],
                              sweep_csv, method_sweep_csv, pairing, out_png, meta, params)


def fig5b(sweep_csv: str, method_sweep_csv: str, pairing: str, out_png: str, meta: str, params: dict) -> dict:
    """Fig. 5b: d_util of the vanilla, guided and random NVGesture sweeps."""
    return _method_histograms("fig5b", "NVGesture, paper Fig. 5b",
                              paper.FIG5B_E_D_UTIL, "method_histograms", paper.ARTIFACTS["fig5b"],
                              sweep_csv, method_sweep_csv, pairing, out_png, meta, params)


def _against(ax, frame: pd.DataFrame, table: pd.DataFrame, by: str, column: str, color: str) -> None:
    """Each completed model as a dot, and the mean ± std over its seeds at each value of `by`."""
    done = _completed(frame).dropna(subset=[column])
    ax.set_ylabel(LABELS.get(column, column))
    if done.empty:  # e.g. d_util is undefined where a branch gets nothing right: say so, keep the axis
        ax.text(0.5, 0.5, f"no completed model with a defined {LABELS.get(column, column)}",
                transform=ax.transAxes, ha="center", va="center", fontsize=8)
        if len(frame) and (frame[by] > 0).all():  # a log axis needs positive limits to draw ticks
            ax.set_xlim(frame[by].min() / 2, frame[by].max() * 2)
        return
    ax.scatter(done[by], done[column], s=10, alpha=0.35, color=color)
    ax.errorbar(table[by], table[f"{column}_mean"], yerr=table[f"{column}_std"], fmt="o-", capsize=3,
                color=color, label="mean ± std over seeds")
    ax.legend(fontsize=7)


def _most_different_pairing(pairings: pd.Series) -> str:
    """The pairing with the most distinct modalities, the first such in the CSV: two different
    modalities rather than two copies of one (or a uni-modal model)."""
    return max(dict.fromkeys(pairings), key=lambda p: len(set(p.split("+"))))


def figlr(sweeps: list[str], out_png: str, meta: str, params: dict) -> dict:
    """d_util against the learning rate, one panel per data set (the draft's appendix Fig. 3): each
    model of the two-different-modalities pairing and the mean per learning rate."""
    named = _named_csvs(sweeps)
    fig, axes = plt.subplots(1, len(named), figsize=(5 * len(named), 4), squeeze=False)
    summary, shown = {}, []
    for ax, (dataset, path) in zip(axes[0], named.items()):
        frame = pd.read_csv(path)
        pairing = _most_different_pairing(frame["pairing"])
        group = frame[frame.pairing == pairing]
        group = group.assign(abs_d_util=group.d_util.abs())
        per_lr = _grouped(group, "lr", ["d_util", "abs_d_util"])
        _against(ax, group, per_lr, "lr", "d_util", "tab:blue")
        ax.axhline(0, color="gray", linestyle="--", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        stop = stopping(group)
        ax.set_title(f"{_short(dataset)} {pairing}: {_counted(group)}\n{stopping_text(stop)}", fontsize=8)
        summary[dataset] = {"pairing": pairing, "csv": path, "models": len(group), "diverged": _diverged(group),
                            "epoch_cap": stop["epoch_cap"], "other_pairings_not_shown": int(len(frame) - len(group)),
                            "per_lr": _records(per_lr, "lr"), "abs_d_util_trend": _ends(per_lr, "lr", "abs_d_util")}
        shown.append(group)
    fig.suptitle(f"draft appendix Fig. 3: {paper.ARTIFACTS['figlr']}", fontsize=9)
    _save(fig, out_png)
    models = pd.concat(shown)
    stop = stopping(models)
    write_meta(meta, "figlr", [out_png, *named.values()], "figlr", params, len(models), summary=summary,
               paper=paper.ARTIFACTS["figlr"], stopping=stop, caption=stopping_text(stop))
    return summary


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
    _save(fig, out_png)
    summary = {"per_lambda": _records(table, "l1"), "trend": {c: _ends(table, "l1", c) for c in columns}}
    write_meta(meta, artifact_id, [out_png, l1_csv], "l1_figures", params, len(frame), **summary,
               lambda_zero_runs=unplotted, paper=paper.ARTIFACTS[artifact_id], stopping=stop,
               caption=stopping_text(stop))
    return summary


def fig3(l1_csv: str, out_png: str, meta: str, params: dict) -> dict:
    """Fig. 3: R(f), the fraction of parameters below 1e-7, against the L1 weight λ."""
    return _versus_lambda("fig3", ["R"], l1_csv, out_png, meta, params)


def fig4(l1_csv: str, out_png: str, meta: str, params: dict) -> dict:
    """Fig. 4: |d_util| and |d_speed| against the L1 weight λ."""
    return _versus_lambda("fig4", ["abs_d_util", "abs_d_speed"], l1_csv, out_png, meta, params)


def _spearman(x: pd.Series, y: pd.Series) -> float | None:
    """Spearman's rank correlation over the pairs where both are known; None below three pairs or
    for a constant series (where it is undefined)."""
    both = pd.concat([x, y], axis=1).dropna()
    if len(both) < 3 or (both.nunique() < 2).any():
        return None
    return _number(spearmanr(both.iloc[:, 0], both.iloc[:, 1])[0])


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
    _save(fig, out_png)
    summary = {"per_lambda": _records(table, "l1"),
               "spearman_with_R": {c: _spearman(done.R, done[c]) for c in columns}}
    write_meta(meta, "fig8", [out_png, l1_csv], "l1_figures", params, len(frame), **summary,
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
    _save(fig, out_png)
    return table


def _at(table: pd.DataFrame, by: str, x: float, column: str) -> float | None:
    row = table[np.isclose(table[by], x)]
    return _number(row[column].iloc[0]) if len(row) else None


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
    write_meta(meta, "fig9a", [out_png, sensitivity_csv], "fig9a", params, len(study), **summary,
               rows_without_Q=outside, paper=paper.ARTIFACTS["fig9a"],
               paper_values={"chosen_Q": chosen, "Q_loses_control": lost}, stopping=stop, caption=stopping_text(stop))
    return summary


def fig9b(alpha_csv: str, expected_json: str, out_png: str, meta: str, params: dict) -> dict:
    """Fig. 9b: sensitivity of d_util and accuracy to α, as a fraction of |E[d_util]| of vanilla
    (`expected_json`: {"E_d_util", "pairing", "models"})."""
    frame, expected = pd.read_csv(alpha_csv), io.read_json(expected_json)
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
    write_meta(meta, "fig9b", [out_png, alpha_csv, expected_json], "fig9b", params, len(study),
               **summary, expected=expected, rows_without_alpha=outside, paper=paper.ARTIFACTS["fig9b"],
               paper_values={"alpha_fraction_works": works, "chosen_alpha": paper.FIG9["chosen_alpha"]},
               stopping=stop, caption=stopping_text(stop))
    return summary


def _plus_minus(mean, std, digits: int = 2) -> str:
    if mean is None or pd.isna(mean):
        return "—"
    return f"{mean:.{digits}f}" + ("" if std is None or pd.isna(std) else f" ± {std:.{digits}f}")


def views(views_csv: str, out_md: str, meta: str, params: dict) -> pd.DataFrame:
    """Three views on ModelNet40: vanilla vs guided test accuracy beside the paper's text."""
    frame = pd.read_csv(views_csv)
    quoted = paper.THREE_VIEWS_MODELNET40
    present = list(dict.fromkeys(frame.method))
    methods = [m for m in quoted if m in present] + [m for m in present if m not in quoted]  # the paper's first
    rows = []
    for method in methods:
        group = frame[frame.method == method]
        mean, std = _mean_std(_completed(group).test_acc)
        stop = stopping(group)
        rows.append({"method": method, "pairing": ", ".join(dict.fromkeys(group.pairing)), "runs": len(group),
                     "diverged": _diverged(group), "test_acc_mean": mean, "test_acc_std": std,
                     "d_util_mean": _mean(_completed(group).d_util) if "d_util" in group else None,
                     "paper_test_acc (text)": quoted.get(method),
                     "difference": mean - quoted[method] if method in quoted else None,
                     "epoch_cap_runs": stop["epoch_cap"], "epochs": _epochs(stop)})
    table = pd.DataFrame(rows)
    shown = pd.DataFrame({
        "method": table.method, "ours: test accuracy (%)": [_plus_minus(r.test_acc_mean, r.test_acc_std)
                                                            for r in table.itertuples()],
        "runs": table.runs, "diverged": table.diverged,
        "mean d_util": ["—" if pd.isna(v) else f"{v:+.3f}" for v in table.d_util_mean],
        "paper (%)": ["—" if pd.isna(v) else f"{v:.2f}" for v in table["paper_test_acc (text)"]],
        "Δ": ["—" if pd.isna(v) else f"{v:+.2f}" for v in table.difference],
        "runs at the epoch cap": ["—" if pd.isna(v) else f"{int(v)} of {n}" for v, n in zip(table.epoch_cap_runs,
                                                                                            table.runs)],
        "epochs per run": table.epochs})
    io.write_text(out_md, f"ModelNet40, three views ({', '.join(dict.fromkeys(frame.pairing))}): test accuracy, "
                  "ours (mean ± std over runs) beside the paper's text (Δ = ours − paper).\n\n"
                  + shown.to_markdown(index=False, disable_numparse=True) + "\n")  # keep "+0.100" as written
    stop = stopping(frame)
    write_meta(meta, "text:modelnet40_three_views", [out_md, views_csv], "views_table", params,
               len(frame), values={r["method"]: _number(r["test_acc_mean"]) for r in rows},
               stds={r["method"]: _number(r["test_acc_std"]) for r in rows},
               d_util={r["method"]: r["d_util_mean"] for r in rows}, paper=quoted, stopping=stop,
               caption=stopping_text(stop))
    return table


def dspeed(guided_status: str, vanilla_status: str, out_png: str, meta: str, params: dict) -> dict:
    """d_speed over training steps for a vanilla and a guided run; re-balancing steps shaded."""
    fig, axes = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    summary, runs = {}, []
    for ax, (name, status_path) in zip(axes, [("vanilla", vanilla_status), ("guided", guided_status)]):
        run_dir = Path(status_path).parent
        status = io.read_json(status_path)
        speed = pd.read_csv(run_dir / "speed.csv") if (run_dir / "speed.csv").exists() else pd.DataFrame()
        steps = pd.read_csv(run_dir / "steps.csv")
        if len(speed):
            ax.plot(speed.step, speed.d_speed, color="black", linewidth=0.8, label="d_speed")
        for kind, color in (("rebalance0", "tab:red"), ("rebalance1", "tab:blue")):
            mask = (steps.kind == kind).to_numpy()
            if mask.any():
                ax.fill_between(steps.step, 0, 1, where=mask, step="mid", color=color, alpha=0.25,
                                transform=ax.get_xaxis_transform(), label=f"{kind} steps")
        ax.axhline(0, color="gray", linestyle="--", linewidth=0.8)
        ax.set_ylabel("d_speed")
        ax.set_title(f"{name}: {Path(run_dir).name} ({status.get('epochs_run')} epochs, "
                     f"stopped by {status.get('stopped_by', 'not recorded')})", fontsize=8)
        ax.legend(fontsize=7, loc="upper right")
        summary[name] = {"steps": len(steps), **{k: int((steps.kind == k).sum())
                                                 for k in ("regular", "rebalance0", "rebalance1")}}
        runs.append({"status": status.get("status"), "stopped_by": status.get("stopped_by"),
                     "epochs_run": status.get("epochs_run"), "seed": status.get("config", {}).get("seed")})
    axes[-1].set_xlabel("training step")
    _save(fig, out_png)
    stop = stopping(pd.DataFrame(runs))
    write_meta(meta, "dspeed_steps", [out_png], "dspeed_plot", params, 2, summary=summary,
               paper="extension: d_speed over training with the re-balancing windows of Algorithm 1",
               stopping=stop, caption=stopping_text(stop))
    return summary


# table1.csv's columns, in this order: a DVC stage reads ours_mean etc. of the CMNIST rows.
TABLE1_COLUMNS = ["method", "row", "dataset", "paper_mean", "paper_std", "ours_mean", "ours_std", "runs", "diverged",
                  "note", "status", "epoch_cap_runs", "epochs", "difference", "within_2_std",
                  "evaluation_state", "procedure", "ours_clean_mean", "ours_carried_mean"]


def _measured_how(runs: pd.DataFrame) -> dict:
    """Which evaluation state and preset produced a cell's numbers (procedure.py), and the mean
    test accuracy in each state (every run records both; older CSVs have neither)."""
    def joined(column, default):
        return ", ".join(sorted(set(runs[column].dropna()))) if column in runs and runs[column].notna().any() else default
    return {"evaluation_state": joined("evaluation_state", "clean"), "procedure": joined("procedure", "paper"),
            "ours_clean_mean": _mean_std(runs.test_acc_clean)[0] if "test_acc_clean" in runs else None,
            "ours_carried_mean": _mean_std(runs.test_acc_carried)[0] if "test_acc_carried" in runs else None}


def _table1_key(method: str, dataset: str) -> str:
    """The key of one Table 1 cell's runs in the meta's `stopping` and `branches`: the method alone
    for CMNIST (the keys from before the other data sets, still read as such), else method/dataset."""
    return method if dataset == "cmnist" else f"{method}/{dataset}"


def _table1_label(key: str) -> str:
    method, _, dataset = key.partition("/")
    row = paper.TABLE1_ROWS.get(method, method)
    return f"{row} ({_short(dataset)})" if dataset else row


def table1(unimodal_csv, table1_csv, out_prefix: str, meta: str, params: dict) -> pd.DataFrame:
    """Table 1: mean ± std test accuracy per method and data set, the paper's value and our
    difference beside each cell; data sets without runs are marked, never filled.

    `unimodal_csv` and `table1_csv` are one `DATASET=CSV` item or a list of them (a bare path is
    CMNIST's): the uni-modal study (its best modality is the uni-modal row) and the methods' runs."""
    unimodal_csvs, table1_csvs = _named_csvs(unimodal_csv, "cmnist"), _named_csvs(table1_csv, "cmnist")
    unknown = sorted((set(unimodal_csvs) | set(table1_csvs)) - set(paper.DATASETS))
    if unknown:
        raise ValueError(f"Table 1 has no column for {', '.join(unknown)} (its data sets: {', '.join(paper.DATASETS)})")
    ours = {}  # (method, dataset) -> ((mean, std), runs, note, diverged, stopping)
    branches = {}  # per cell key, each modality's branch accuracy with fusion intact (A(f_k))
    n_models = 0
    for dataset, path in unimodal_csvs.items():
        runs = pd.read_csv(path)
        accuracy = {m: _mean_std(_completed(g).test_acc) for m, g in runs.groupby("pairing")}
        # a modality whose runs all diverged has no mean and cannot be the best
        best = max(accuracy, key=lambda m: np.nan_to_num(accuracy[m][0], nan=-np.inf))
        best_runs = runs[runs.pairing == best]
        ours[("unimodal", dataset)] = (accuracy[best], len(best_runs), f"best: {best}", _diverged(best_runs),
                                       stopping(best_runs), _measured_how(_completed(best_runs)))
        n_models += len(best_runs)
    for dataset, path in table1_csvs.items():
        method_runs = pd.read_csv(path)
        n_models += len(method_runs)
        for method, group in method_runs.groupby("method"):
            done = _completed(group)
            ours[(method, dataset)] = (_mean_std(done.test_acc), len(group), "", _diverged(group), stopping(group),
                                       _measured_how(done))
            if "branch0_acc" in done and len(done):
                modalities = done.pairing.iloc[0].split("+")
                branches[_table1_key(method, dataset)] = {m: _mean_std(done[f"branch{k}_acc"])
                                                          for k, m in enumerate(modalities) if f"branch{k}_acc" in done}
    methods = {method for method, _ in ours}
    rows = []
    for method in [m for m in paper.TABLE1_ROWS if m in methods or m in paper.TABLE1]:
        for d, dataset in enumerate(paper.DATASETS):
            reference = paper.TABLE1.get(method, [None] * len(paper.DATASETS))[d]
            row = {"method": method, "row": paper.TABLE1_ROWS[method], "dataset": dataset,
                   "paper_mean": reference[0] if reference else None,
                   "paper_std": reference[1] if reference else None}
            if (method, dataset) in ours:
                (mean, std), n, note, diverged, stop, how = ours[(method, dataset)]
                row.update(ours_mean=mean, ours_std=std, runs=n, diverged=diverged, note=note, status="reproduced", **how,
                           epoch_cap_runs=stop["epoch_cap"], epochs=_epochs(stop),
                           difference=mean - reference[0] if reference else None,
                           within_2_std=bool(abs(mean - reference[0]) <= 2 * reference[1])
                           if reference and not np.isnan(mean) else None)
            else:  # an extension (no paper value) that this column's study does not run is not a gap
                row.update(status="not yet reproduced" if reference else "not run")
            rows.append(row)
    table = pd.DataFrame(rows, columns=TABLE1_COLUMNS)
    io.write_csv(f"{out_prefix}.csv", table)

    def cell(r):
        reference = "—" if pd.isna(r.paper_mean) else f"{r.paper_mean:.2f}±{r.paper_std:.2f}"
        if r.status == "not run":
            return "not run (not in the paper)"
        if r.status != "reproduced":
            return f"not yet reproduced (paper {reference})"
        if pd.isna(r.ours_mean):
            return f"no completed run (paper {reference})"
        std = "" if pd.isna(r.ours_std) else f"±{r.ours_std:.2f}"
        diff = "" if pd.isna(r.get("difference")) else f", Δ {r.difference:+.2f}"
        # under each number: the evaluation state and preset that produced it (both states if carried)
        how = f"{r.evaluation_state}, {r.procedure}"
        if r.evaluation_state == "carried" and not pd.isna(r.ours_clean_mean):
            how = f"carried; clean {r.ours_clean_mean:.2f}; {r.procedure}"
        return f"{r.ours_mean:.2f}{std} (paper {reference}{diff}) · {how}"

    wide = table.assign(cell=table.apply(cell, axis=1)).pivot(index="row", columns="dataset", values="cell")
    wide = wide.reindex([paper.TABLE1_ROWS[m] for m in dict.fromkeys(table["method"])])
    wide = wide[paper.DATASETS].rename(columns=paper.DATASET_TITLES)
    # How the runs of each reproduced data set stopped: the paper trains until 100 % training
    # accuracy; a run that hit training.<data set>.max_epochs first is counted here.
    for dataset in paper.DATASETS:
        reproduced = table[(table.dataset == dataset) & (table.status == "reproduced")].set_index("row")
        if not len(reproduced):
            continue
        cap = {row: "—" if pd.isna(r.epoch_cap_runs) else f"{int(r.epoch_cap_runs)} of {int(r.runs)}"
               for row, r in reproduced.iterrows()}
        wide[f"{_short(dataset)} runs at the epoch cap"] = [cap.get(row, "—") for row in wide.index]
        wide[f"{_short(dataset)} epochs per run"] = [reproduced.epochs.get(row, "—") for row in wide.index]
    wide.index.name = "method"
    io.write_text(f"{out_prefix}.md", "Test accuracy (%), ours (paper, Δ = ours − paper) · the evaluation state "
                  "and preset that produced it (clean: fusion intact; carried: the re-balancing state the last "
                  "training step left, as the official code evaluates; presets: procedure in params.yaml); how "
                  "the runs of each reproduced data set stopped (the epoch cap is training.<data set>.max_epochs).\n\n"
                  + wide.to_markdown() + "\n")
    io.write_text(f"{out_prefix}.tex", wide.to_latex(escape=True))
    reproduced = table[table.status == "reproduced"]
    stops = {_table1_key(method, dataset): value[4] for (method, dataset), value in ours.items()}
    measured_how = {_table1_key(method, dataset): value[5] for (method, dataset), value in ours.items()}
    write_meta(meta, "table1", [f"{out_prefix}.csv", f"{out_prefix}.md", f"{out_prefix}.tex"], "table1",
               params, n_models,
               cells={f"{r.method}/{r.dataset}": {"ours_mean": r.ours_mean, "ours_std": r.ours_std,
                                                  "paper_mean": r.paper_mean, "paper_std": r.paper_std,
                                                  "within_2_std": r.within_2_std}
                      for r in reproduced.itertuples()},
               branches=branches, stopping=stops, measured_how=measured_how,
               caption="; ".join(f"{_table1_label(key)}: {stopping_text(s)}" for key, s in stops.items()))
    return table


def _percent(value) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def _signed(value) -> str:
    return "—" if value is None else f"{value:+.3f}"


def _verdict(ours, expected, tolerance: float) -> str:
    """ "agrees" when ours is within `tolerance` of the paper's value; "—" where either is missing."""
    if ours is None or expected is None or pd.isna(ours) or pd.isna(expected):
        return "—"
    return "agrees" if abs(ours - expected) <= tolerance else "differs"


def _row(what: str, reference: str, ours: str, verdict: str, models, entry: str | None) -> str:
    entry = "—" if entry is None else f"`{entry}`"
    return f"| {what} | {reference} | {ours} | {verdict} | {models} | {entry} |"


def _table1_rows(meta: dict) -> list[str]:
    lines = []
    for key, c in meta["cells"].items():
        std = "" if c["ours_std"] is None or pd.isna(c["ours_std"]) else f"±{c['ours_std']:.2f}"
        ours = "no completed run" if c["ours_mean"] is None or pd.isna(c["ours_mean"]) else f"{c['ours_mean']:.2f}{std}"
        if c["paper_mean"] is None or pd.isna(c["paper_mean"]):
            lines.append(_row(f"table1 {key}", "not in the paper", ours, "—", meta["n_models"], "table1"))
            continue
        verdict = "—" if c["within_2_std"] is None else "agrees" if c["within_2_std"] else "differs"
        lines.append(_row(f"table1 {key}", f"{c['paper_mean']:.2f}±{c['paper_std']:.2f}", ours, verdict,
                          meta["n_models"], "table1"))
    # every cell of the paper's Table 1 gets a line, those without runs too
    for method, cells in paper.TABLE1.items():
        for dataset, (mean, std) in zip(paper.DATASETS, cells):
            if f"{method}/{dataset}" not in meta["cells"]:
                lines.append(_row(f"table1 {method}/{dataset}", f"{mean:.2f}±{std:.2f}", "not yet reproduced", "—",
                                  0, None))
    return lines


def _pairing_rows(artifact_id: str, meta: dict) -> list[str]:
    """Fig. 7 and Fig. 2a: E[d_util] per pairing against the paper's |E[d_util]|."""
    lines = []
    for pairing, s in meta["summary"].items():
        expected, value = s.get("paper_abs_E_d_util"), s["E_d_util"]
        cap = "" if s.get("epoch_cap") is None else f", {s['epoch_cap']} at the epoch cap"
        lines.append(_row(f"{artifact_id} {pairing} E[d_util]", "—" if expected is None else f"|E| ≈ {expected}",
                          f"{_signed(value)} ({_models(s['models'])}, {s['diverged']} diverged{cap})",
                          _verdict(None if value is None else abs(value), expected, paper.E_D_UTIL_TOLERANCE),
                          s["models"], artifact_id))
    return lines


def _method_rows(artifact_id: str, meta: dict) -> list[str]:
    """Fig. 5a: E[d_util] per method against the paper's."""
    lines = []
    for method, s in meta["summary"].items():
        expected, value = s.get("paper_E_d_util"), s["E_d_util"]
        cap = "" if s.get("epoch_cap") is None else f", {s['epoch_cap']} at the epoch cap"
        lines.append(_row(f"{artifact_id} {method} E[d_util]", "—" if expected is None else f"≈ {expected:+.1f}",
                          f"{_signed(value)} ({_models(s['models'])}, {s['diverged']} diverged{cap})",
                          _verdict(value, expected, paper.E_D_UTIL_TOLERANCE), s["models"], artifact_id))
    return lines


def _trend_text(name: str, trend: dict | None, x: str) -> str:
    if trend is None:
        return f"{name}: fewer than two {x} values with completed models"
    change = "grows" if trend["grows"] else "does not grow"
    return (f"{name} {trend['at_smallest']:.3g} at {x} {trend['smallest']:g} → {trend['at_largest']:.3g} at "
            f"{x} {trend['largest']:g} ({change})")


def _sweep_text(per_value: dict, x: str) -> str:
    """ "Q 1: d_util +0.100, accuracy 90.10 %; ..." for Fig. 9's per-value tables."""
    def number(v, fmt):
        return "—" if v is None else format(v, fmt)
    return "; ".join(f"{x} {value}: d_util {number(s['d_util_mean'], '+.3f')}, accuracy "
                     f"{number(s['test_acc_pct_mean'], '.2f')} % ({_models(s['models'])}, {s['diverged']} diverged)"
                     for value, s in sorted(per_value.items(), key=lambda item: float(item[0])))


def _qualitative_rows(artifact_id: str, meta: dict) -> list[str]:
    """Figures whose paper statement has no number to compare: what we measured, verdict
    "qualitative"."""
    if artifact_id == "figlr":
        measured = [(f"figlr {_short(d)} {s['pairing']}", _trend_text("mean |d_util|", s["abs_d_util_trend"], "lr")
                     + f" ({_models(s['models'])}, {s['diverged']} diverged)") for d, s in meta["summary"].items()]
    elif artifact_id in ("fig3", "fig4"):
        measured = [(f"{artifact_id} {LABELS[c]} vs λ", _trend_text(LABELS[c], t, "λ"))
                    for c, t in meta["trend"].items()]
    elif artifact_id == "fig8":
        measured = [(f"fig8 Spearman ρ({LABELS[c]}, R(f))", _signed(v)) for c, v in meta["spearman_with_R"].items()]
    elif artifact_id == "fig9a":
        measured = [("fig9a d_util, accuracy vs Q", _sweep_text(meta["per_Q"], "Q"))]
    else:  # fig9b
        measured = [("fig9b d_util, accuracy vs α / |E[d_util]|", _sweep_text(meta["per_alpha_fraction"], "α/E"))]
    return [_row(what, paper.ARTIFACTS[artifact_id], ours, "qualitative", meta["n_models"], artifact_id)
            for what, ours in measured]


def _text_rows(metas: dict) -> list[str]:
    """The numbers quoted in the paper's text: uni-modal accuracies, three views, the guided gray
    branch (from Table 1's meta); the rest listed as not yet reproduced."""
    lines, covered = [], set()
    for dataset, quoted in paper.UNIMODAL_TEXT.items():
        entry = f"text:{dataset}_unimodal"
        if entry not in metas:
            continue
        covered.add(f"{dataset}_unimodal")
        meta = metas[entry]
        for modality, value in meta["values"].items():
            expected = quoted.get(modality)
            lines.append(_row(f"text: {_short(dataset)} uni-modal {modality}",
                              "—" if expected is None else f"{expected:.0f} %",
                              "—" if value is None else f"{value:.2f} %",
                              _verdict(value, expected, paper.TEXT_TOLERANCE_POINTS), meta["n_models"], entry))
    if "text:modelnet40_three_views" in metas:
        covered.add("modelnet40_three_views")
        meta = metas["text:modelnet40_three_views"]
        for method, value in meta["values"].items():
            expected = paper.THREE_VIEWS_MODELNET40.get(method)
            lines.append(_row(f"text: ModelNet40 three views {method}",
                              "—" if expected is None else f"{expected:.2f} %",
                              _plus_minus(value, meta.get("stds", {}).get(method)) + " %",
                              _verdict(value, expected, paper.TEXT_TOLERANCE_POINTS), meta["n_models"],
                              "text:modelnet40_three_views"))
    gray_branch = metas.get("table1", {}).get("branches", {}).get("guided", {}).get("gray")
    if gray_branch is not None:
        covered.add("guided_gray_branch")
        (mean, std), (expected, expected_std) = gray_branch, paper.GUIDED_CMNIST_GRAY_BRANCH
        lines.append(_row("text: guided CMNIST gray branch", f"{expected:.2f}±{expected_std:.2f} %",
                          f"{mean:.2f}" + ("" if pd.isna(std) else f"±{std:.2f}") + " %",
                          _verdict(mean, expected, 2 * expected_std), metas["table1"]["n_models"], "table1"))
    rest = [quote for key, quote in paper.TEXT_QUOTES.items() if key not in covered]
    if rest:
        lines.append(_row("text: other quoted numbers", "; ".join(rest), "not yet reproduced", "—", 0, None))
    return lines


def scale_notes(params: dict) -> list[str]:
    """What scale each data set's numbers come from (from the parameters Table 1 recorded): a
    fixture or a reduced run says so, so that a verdict on it does not read as a result."""
    notes = []
    for dataset, title in (("cmnist", "Colored-and-gray-MNIST"), ("modelnet40", "ModelNet40"),
                           ("nvgesture", "NVGesture")):
        data, training = params.get(f"data.{dataset}"), params.get(f"training.{dataset}", {})
        if data is None:
            continue
        if data.get("source") == "fixture":
            notes.append(f"- **{title}: a generated fixture** in the real on-disk format, not the real data; its "
                         f"numbers and verdicts check the pipeline, they are not results.")
        elif data.get("train_size"):
            notes.append(f"- **{title}: reduced scale**: {data['train_size']:,} training digits, at most "
                         f"{training.get('max_epochs', '?')} epochs (e.g. the smoke overlay); not the paper's scale.")
        else:
            notes.append(f"- {title}: the real data at the parameters' scale.")
    return (["Scale of the numbers below:", "", *notes, ""]) if notes else []


def report(meta_files: list[str], index_path: str, out: str) -> str:
    """One page: every artifact of the paper, ours beside the paper's, with a verdict."""
    metas = {m["id"]: m for m in (io.read_json(p) for p in meta_files)}
    lines = ["# Reproduction report", "",
             f"Every artifact of the paper (REFERENCE section 1). Index: [{index_path}]({Path(index_path).name}).",
             "Verdicts: Table 1 cells agree when our mean is within the paper's ±2 std; figure",
             f"expectations agree within ±{paper.E_D_UTIL_TOLERANCE} on E[d_util]; accuracies quoted in the text",
             f"within ±{paper.TEXT_TOLERANCE_POINTS} points; \"qualitative\" where the paper states a trend",
             "without a number (ours is what we measured).", ""]
    lines += scale_notes(metas.get("table1", {}).get("params", {}))
    lines += ["| artifact | paper | ours | verdict | models | index entry |", "|---|---|---|---|---|---|"]
    rows_of = {"table1": lambda: _table1_rows(metas["table1"]),
               **{a: (lambda a=a: _pairing_rows(a, metas[a])) for a in ("fig7", "fig2a", "fig2b")},
               **{a: (lambda a=a: _method_rows(a, metas[a])) for a in ("fig5a", "fig5b")},
               **{a: (lambda a=a: _qualitative_rows(a, metas[a]))
                  for a in ("figlr", "fig3", "fig4", "fig8", "fig9a", "fig9b")},
               "text": lambda: _text_rows(metas)}
    for artifact_id, description in paper.ARTIFACTS.items():
        if artifact_id in rows_of and (artifact_id in metas or artifact_id == "text"):
            lines += rows_of[artifact_id]()
        else:
            lines.append(_row(artifact_id, description, "not yet reproduced", "—", 0, None))
    lines += ["", "Extensions beyond the paper's artifacts:", "",
              "| artifact | what | ours | models | index entry |", "|---|---|---|---|---|"]
    if "fig5c" in metas:
        meta = metas["fig5c"]
        shown = ", ".join(f"{m}: E[d_util] = {_signed(s['E_d_util'])}" for m, s in meta["summary"].items())
        lines.append(f"| fig5c | Fig. 5 on CMNIST (vanilla vs guided vs random sweeps) | {shown} | "
                     f"{meta['n_models']} | `fig5c` |")
    if "ablation" in metas:
        meta = metas["ablation"]
        shown = "; ".join(f"{key}: clean {_percent(v['clean'])} / carried {_percent(v['carried'])}"
                          for key, v in meta["summary"].items() if key.startswith("guided/"))
        lines.append(f"| ablation | official-code switches one at a time (CMNIST, reduced setting): guided's test "
                     f"accuracy (%) | {shown} | {meta['n_models']} | `ablation` |")
    if "dspeed_steps" in metas:
        meta = metas["dspeed_steps"]
        shown = "; ".join(f"{m}: " + ", ".join(f"{k} {v}" for k, v in s.items()) for m, s in meta["summary"].items())
        lines.append(f"| dspeed_steps | d_speed over steps, re-balancing shaded | {shown} | 2 | `dspeed_steps` |")
    stopped = []
    for artifact_id, meta in metas.items():
        if "stopping" not in meta:
            continue
        if artifact_id == "table1":  # one entry per cell
            stopped += [(artifact_id, _table1_label(key), v) for key, v in meta["stopping"].items()]
        else:
            stopped.append((artifact_id, "all models", meta["stopping"]))
    if stopped:
        lines += ["", "How the runs stopped (the paper trains until 100 % training accuracy; runs at the epoch "
                  "cap, training.*.max_epochs, stopped before that):", "",
                  "| artifact | runs | stopped at the epoch cap | diverged | epochs per run |", "|---|---|---|---|---|"]
        for artifact_id, label, stop in sorted(stopped, key=lambda item: item[0]):
            cap = "not recorded" if stop.get("epoch_cap") is None else f"{stop['epoch_cap']} of {stop['runs']}"
            lines.append(f"| {artifact_id}: {label} | {stop['runs']} | {cap} | {stop.get('diverged', 0)} | "
                         f"{_epochs(stop)} |")
    # a literal "|" (as in |E[d_util]|) would end a Markdown table cell
    lines = [line if not line.startswith("| ") else "| " + " | ".join(
        cell.replace("|", "\\|") for cell in line[2:-2].split(" | ")) + " |" for line in lines]
    text = "\n".join(lines) + "\n"
    io.write_text(out, text)
    return text


def index(meta_files: list[str], out: str) -> dict:
    entries = sorted((io.read_json(p) for p in meta_files), key=lambda e: e["id"])
    result = {"artifacts": entries}
    io.write_json(out, result)
    return result


# The artifacts `greedy render <artifact>` makes: name -> the function and its options. Each
# option's dest is the function's parameter it fills; --params-json becomes `params`.
@dataclass(frozen=True)
class Artifact:
    function: Callable
    help: str
    options: tuple  # (flag, argparse keyword arguments)


def _option(flag: str, dest: str, help: str | None = None, required: bool = True, **more) -> tuple:
    return flag, {"dest": dest, "required": required, "help": help, **more}


def _named(flag: str, dest: str, help: str, default: str | None = None) -> tuple:
    """A flag taking one or more DATASET=CSV items (with `default`, a bare path is that data set's)."""
    bare = f"; a bare CSV is {default}'s" if default else ""
    return _option(flag, dest, f"{help}: DATASET=CSV, one or more{bare}", nargs="+", metavar="DATASET=CSV")


META = _option("--meta", "meta", "the artifact's <name>.meta.json (merged by `greedy index`)")
PNG = _option("--png", "out_png", "the figure")
METRICS = _option("--metrics", "metrics", "a small JSON of the headline numbers (DVC metrics)", required=False)
SWEEP = _option("--sweep", "sweep_csv", "a study CSV from `greedy collect`")
L1 = _option("--l1", "l1_csv", "the L1 study's CSV (its l1 column is λ)")
FIG5 = (SWEEP, _option("--method-sweep", "method_sweep_csv", "the method sweep's CSV"),
        _option("--pairing", "pairing", "e.g. mono+gray"), PNG, META)

ARTIFACTS = {
    "unimodal": Artifact(unimodal, "uni-modal baselines table (the paper's text)",
                         (SWEEP, _option("--csv", "out_csv"), _option("--md", "out_md"), META, METRICS,
                          _option("--dataset", "dataset", "the data set (names the artifact text:<dataset>_unimodal)",
                                  required=False, default="cmnist"))),
    "fig7": Artifact(fig7, "Fig. 7: d_util / d_speed histograms of the CMNIST learning-rate sweep",
                     (SWEEP, PNG, META, METRICS)),
    "fig2a": Artifact(fig2a, "Fig. 2a: d_util / d_speed histograms of the ModelNet40 learning-rate sweep",
                      (SWEEP, PNG, META, METRICS)),
    "fig2b": Artifact(fig2b, "Fig. 2b: d_util / d_speed histograms of the NVGesture learning-rate sweep",
                      (SWEEP, PNG, META, METRICS)),
    "fig5b": Artifact(fig5b, "Fig. 5b: d_util of the vanilla, guided and random NVGesture sweeps", FIG5),
    "fig5c": Artifact(fig5c, "Fig. 5 on CMNIST: d_util of the vanilla, guided and random sweeps", FIG5),
    "fig5a": Artifact(fig5a, "Fig. 5a: d_util of the vanilla, guided and random ModelNet40 sweeps", FIG5),
    "figlr": Artifact(figlr, "d_util vs learning rate, one panel per data set (draft appendix Fig. 3)",
                      (_named("--sweep", "sweeps", "learning-rate sweep CSVs"), PNG, META)),
    "fig3": Artifact(fig3, "Fig. 3: R(f) vs the L1 weight λ", (L1, PNG, META)),
    "fig4": Artifact(fig4, "Fig. 4: |d_util| and |d_speed| vs the L1 weight λ", (L1, PNG, META)),
    "fig8": Artifact(fig8, "Fig. 8: |d_util| and |d_speed| vs R(f)", (L1, PNG, META)),
    "fig9a": Artifact(fig9a, "Fig. 9a: sensitivity of d_util and accuracy to Q",
                      (_option("--sensitivity", "sensitivity_csv", "the Q study's CSV (rebalance_steps column)"),
                       PNG, META)),
    "fig9b": Artifact(fig9b, "Fig. 9b: sensitivity of d_util and accuracy to α",
                      (_option("--alpha-study", "alpha_csv", "the α study's CSV (alpha column)"),
                       _option("--expected", "expected_json", 'JSON {"E_d_util", "pairing", "models"} of vanilla'),
                       PNG, META)),
    "views": Artifact(views, "three views on ModelNet40: vanilla vs guided test accuracy (the paper's text)",
                      (_option("--views", "views_csv", "the three-view study's CSV"), _option("--md", "out_md"),
                       META)),
    "dspeed": Artifact(dspeed, "d_speed over training steps, re-balancing steps shaded",
                       (_option("--guided", "guided_status", "status.json of a guided run"),
                        _option("--vanilla", "vanilla_status", "status.json of a vanilla run"), PNG, META)),
    "ablation": Artifact(ablation.render,
                         "the official-code switches one at a time: both evaluation states per run",
                         (_option("--ablation", "ablation_csv", "the ablation study's CSV (`greedy collect`)"),
                          _option("--csv", "out_csv"), _option("--md", "out_md"), PNG, META, METRICS)),
    "table1": Artifact(table1, "Table 1 (csv, md, tex), with how the runs stopped",
                       (_named("--unimodal", "unimodal_csv", "the uni-modal study CSVs", default="cmnist"),
                        _named("--table1", "table1_csv", "the Table 1 study CSVs", default="cmnist"),
                        _option("--out-prefix", "out_prefix", "writes <prefix>.csv, .md and .tex"), META)),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`greedy render <artifact> ...`: one subcommand per entry of ARTIFACTS."""
    sub = parser.add_subparsers(dest="artifact", required=True, metavar="ARTIFACT")
    for name, artifact in ARTIFACTS.items():
        p = sub.add_parser(name, help=artifact.help, description=artifact.help)
        for flag, kwargs in artifact.options:
            p.add_argument(flag, **kwargs)
        p.add_argument("--params-json", default="{}", help="parameters recorded in the artifact's index entry")


def run(args: argparse.Namespace):
    artifact = ARTIFACTS[args.artifact]
    kwargs = {dest: getattr(args, dest) for _, options in artifact.options for dest in [options["dest"]]}
    result = artifact.function(**kwargs, params=json.loads(args.params_json))
    print(result.to_string() if isinstance(result, pd.DataFrame) else json.dumps(result, indent=2))
    return result


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", required=True, help="results/index.json (linked from the report)")
    parser.add_argument("--out", required=True, help="results/report.md")
    parser.add_argument("meta", nargs="+", metavar="META_JSON", help="the artifacts' meta.json files")


def run_report(args: argparse.Namespace) -> str:
    text = report(args.meta, args.index, args.out)
    print(text)
    return text


def add_index_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="results/index.json")
    parser.add_argument("meta", nargs="+", metavar="META_JSON", help="the artifacts' meta.json files")


def run_index(args: argparse.Namespace) -> dict:
    return index(args.meta, args.out)
