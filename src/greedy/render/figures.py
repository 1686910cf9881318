"""The figures of learning-rate sweeps and single runs: d_util / d_speed histograms per pairing
(Fig. 7, 2a, 2b) and per method (Fig. 5), d_util against the learning rate (figlr), d_speed over
training steps; and the helpers every figure shares (_save, _against).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.stats import gaussian_kde  # noqa: E402

from greedy import fileio, paper  # noqa: E402
from greedy.render.registry import ARTIFACTS, method  # noqa: E402
from greedy.render.stats import (LABELS, _completed, _counted, _diverged, _grouped, _mean, _models,  # noqa: E402
                                 _most_different_pairing, _named_csvs, _records, _ends, _short, stopping,
                                 stopping_text, write_meta)


def _save(fig, out_png: str) -> None:
    """Lay the figure out and write it atomically (a killed job leaves no half-written PNG)."""
    fig.tight_layout()
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(out_png).with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(out_png)


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
        fileio.write_json(metrics, summary)
    return summary


def fig7(sweep_csv: str, out_png: str, meta: str, params: dict, metrics: str | None = None) -> dict:
    """Fig. 7: d_util and d_speed of the Colored-and-gray-MNIST learning-rate sweep."""
    return _pairing_histograms("fig7", "Colored-and-gray-MNIST learning-rate sweep, paper Fig. 7",
                               paper.FIG7_ABS_E_D_UTIL, "cmnist", ARTIFACTS["fig7"].rule, sweep_csv, out_png, meta,
                               params, metrics)


def fig2a(sweep_csv: str, out_png: str, meta: str, params: dict, metrics: str | None = None) -> dict:
    """Fig. 2a: d_util and d_speed of the ModelNet40 learning-rate sweep (front+rear vs front+front)."""
    return _pairing_histograms("fig2a", "ModelNet40 learning-rate sweep, paper Fig. 2a",
                               paper.FIG2A_ABS_E_D_UTIL, "modelnet40", ARTIFACTS["fig2a"].rule, sweep_csv, out_png, meta,
                               params, metrics)


def fig2b(sweep_csv: str, out_png: str, meta: str, params: dict, metrics: str | None = None) -> dict:
    """Fig. 2b: d_util and d_speed of the NVGesture learning-rate sweep (rgb+depth vs rgb+rgb)."""
    return _pairing_histograms("fig2b", "NVGesture learning-rate sweep, paper Fig. 2b",
                               paper.FIG2B_ABS_E_D_UTIL, "nvgesture", ARTIFACTS["fig2b"].rule, sweep_csv, out_png, meta,
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
    for name in dict.fromkeys(frame.method):  # each method in its declared colour; undeclared: an error
        color = method(name).color
        group = frame[frame.method == name]
        summary[name] = {"models": len(group), "diverged": _diverged(group),
                           "epoch_cap": stopping(group)["epoch_cap"],
                           "E_d_util": _mean(_completed(group).d_util), "paper_E_d_util": expected.get(name)}
        _histogram(ax, _completed(group).d_util.to_numpy(float), color, name)
    ax.set_xlabel("d_util")
    stop = stopping(frame)
    counts = f"{pairing}: " + ", ".join(f"{m} {s['models']} ({s['diverged']} diverged)" for m, s in summary.items())
    expectation = [f"paper E[d_util]: {', '.join(f'{m} ≈ {v:+.1f}' for m, v in expected.items())}"] if expected else []
    ax.set_title("\n".join([title, *expectation, f"{_models(counts)}", stopping_text(stop)]), fontsize=8)
    _save(fig, out_png)
    write_meta(meta, artifact_id, [out_png, sweep_csv, method_sweep_csv], rule, params, len(frame),
               summary=summary, paper=reference, stopping=stop, caption=stopping_text(stop))
    return summary


def methods_cmnist(sweep_csv: str, method_sweep_csv: str, pairing: str, out_png: str, meta: str, params: dict) -> dict:
    """Fig. 5 on CMNIST, an extension: the paper shows it for ModelNet40 and NVGesture only."""
    return _method_histograms("methods_cmnist", "Colored-and-gray-MNIST (extension of the paper's Fig. 5)", {},
                              ARTIFACTS["methods_cmnist"].rule,
                              "extension: the paper shows Fig. 5 for ModelNet40 and NVGesture only",
                              sweep_csv, method_sweep_csv, pairing, out_png, meta, params)


def fig5a(sweep_csv: str, method_sweep_csv: str, pairing: str, out_png: str, meta: str, params: dict) -> dict:
    """Fig. 5a: d_util of the vanilla, guided and random ModelNet40 sweeps."""
    return _method_histograms("fig5a", "ModelNet40, paper Fig. 5a",
                              paper.FIG5A_E_D_UTIL, ARTIFACTS["fig5a"].rule, paper.ARTIFACTS["fig5a"],
                              sweep_csv, method_sweep_csv, pairing, out_png, meta, params)


def fig5b(sweep_csv: str, method_sweep_csv: str, pairing: str, out_png: str, meta: str, params: dict) -> dict:
    """Fig. 5b: d_util of the vanilla, guided and random NVGesture sweeps."""
    return _method_histograms("fig5b", "NVGesture, paper Fig. 5b",
                              paper.FIG5B_E_D_UTIL, ARTIFACTS["fig5b"].rule, paper.ARTIFACTS["fig5b"],
                              sweep_csv, method_sweep_csv, pairing, out_png, meta, params)


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
    write_meta(meta, "figlr", [out_png, *named.values()], ARTIFACTS["figlr"].rule, params, len(models), summary=summary,
               paper=paper.ARTIFACTS["figlr"], stopping=stop, caption=stopping_text(stop))
    return summary


def dspeed(guided_status: str, vanilla_status: str, out_png: str, meta: str, params: dict) -> dict:
    """d_speed over training steps for a vanilla and a guided run; re-balancing steps shaded."""
    fig, axes = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    summary, runs = {}, []
    for ax, (name, status_path) in zip(axes, [("vanilla", vanilla_status), ("guided", guided_status)]):
        run_dir = Path(status_path).parent
        status = fileio.read_json(status_path)
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
    write_meta(meta, "dspeed_steps", [out_png], ARTIFACTS["dspeed"].rule, params, 2, summary=summary,
               paper="extension: d_speed over training with the re-balancing windows of Algorithm 1",
               stopping=stop, caption=stopping_text(stop))
    return summary
