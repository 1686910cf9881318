"""Tables, figures and the results index.

Every rendered artifact also writes `<artifact>.meta.json` (its id from REFERENCE section 1, the
files, the rule and parameters that made it, how many models are behind it and how they stopped);
`greedy index` merges them into results/index.json and `greedy report` writes results/report.md.
`greedy render <artifact>` makes one artifact of the registry ARTIFACTS.
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
from scipy.stats import gaussian_kde  # noqa: E402

from greedy import io, paper  # noqa: E402


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


def unimodal(sweep_csv: str, out_csv: str, out_md: str, meta: str, params: dict,
             metrics: str | None = None) -> pd.DataFrame:
    frame = pd.read_csv(sweep_csv)
    rows = []
    for modality, group in frame.groupby("pairing"):
        done = group[group["status"] == "completed"]
        acc = 100 * done["test_acc"]
        stop = stopping(group)
        rows.append({"modality": modality, "runs": len(group), "diverged": int((group["status"] == "diverged").sum()),
                     "test_acc_mean": acc.mean(), "test_acc_std": acc.std(ddof=1) if len(acc) > 1 else float("nan"),
                     "paper_test_acc (text)": paper.CMNIST_UNIMODAL_TEXT.get(modality),
                     "epoch_cap_runs": stop["epoch_cap"], "epochs": _epochs(stop)})
    table = pd.DataFrame(rows)
    io.write_csv(out_csv, table)
    io.write_text(out_md, table.to_markdown(index=False, floatfmt=".2f") + "\n")
    write_meta(meta, "text:cmnist_unimodal", [out_csv, out_md], "cmnist_unimodal_table", params, len(frame),
               values={r["modality"]: r["test_acc_mean"] for r in rows}, stopping=stopping(frame))
    if metrics:
        io.write_json(metrics, {r["modality"]: {k: r[k] for k in ("test_acc_mean", "test_acc_std", "runs", "diverged")}
                                for r in rows})
    return table


def _histogram(ax, values: np.ndarray, color: str, label: str) -> None:
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


def fig7(sweep_csv: str, out_png: str, meta: str, params: dict, metrics: str | None = None) -> dict:
    """Histograms and density estimates of d_util and d_speed per modality pairing."""
    frame = pd.read_csv(sweep_csv)
    configured = ["+".join(p) for p in params.get("studies.cmnist.sweep", {}).get("pairings", [])]
    pairings = [p for p in configured if p in set(frame["pairing"])] or list(dict.fromkeys(frame["pairing"]))
    fig, axes = plt.subplots(2, len(pairings), figsize=(4 * len(pairings), 6), squeeze=False)
    summary = {}
    for j, pairing in enumerate(pairings):
        group = frame[frame["pairing"] == pairing]
        done = group[group["status"] == "completed"]
        diverged = int((group["status"] == "diverged").sum())
        stop = stopping(group)
        summary[pairing] = {"models": len(group), "diverged": diverged, "epoch_cap": stop["epoch_cap"],
                            "E_d_util": float(done["d_util"].mean()) if len(done) else None,
                            "E_d_speed": float(done["d_speed"].mean()) if len(done) else None}
        _histogram(axes[0, j], done["d_util"].to_numpy(float), "tab:blue", "d_util")
        _histogram(axes[1, j], done["d_speed"].to_numpy(float), "tab:orange", "d_speed")
        axes[0, j].set_title(f"{pairing}: {len(done)} models, {diverged} diverged (excluded)\n"
                             f"{stopping_text(stop)}", fontsize=9)
        axes[0, j].set_xlabel("d_util")
        axes[1, j].set_xlabel("d_speed")
    fig.suptitle("Colored-and-gray-MNIST learning-rate sweep (paper Fig. 7; paper |E[d_util]| ≈ 0.3 for mono+gray)",
                 fontsize=10)
    fig.tight_layout()
    _save(fig, out_png)
    stop = stopping(frame)
    write_meta(meta, "fig7", [out_png, sweep_csv], "cmnist_fig7", params, len(frame), summary=summary,
               paper=paper.ARTIFACTS["fig7"], stopping=stop, caption=stopping_text(stop))
    if metrics:
        io.write_json(metrics, summary)
    return summary


def _save(fig, out_png: str) -> None:
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(out_png).with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(out_png)


def fig5c(sweep_csv: str, method_sweep_csv: str, pairing: str, out_png: str, meta: str, params: dict) -> dict:
    """d_util histograms of the vanilla, guided and random learning-rate sweeps (CMNIST)."""
    sweep = pd.read_csv(sweep_csv)
    frame = pd.concat([sweep[(sweep.pairing == pairing) & (sweep.method == "vanilla")],
                       pd.read_csv(method_sweep_csv)])
    fig, ax = plt.subplots(figsize=(6, 4))
    summary = {}
    for method, color in zip(dict.fromkeys(frame.method), ["tab:gray", "tab:green", "tab:purple", "tab:red"]):
        group = frame[frame.method == method]
        done = group[group.status == "completed"]
        summary[method] = {"models": len(group), "diverged": int((group.status == "diverged").sum()),
                           "epoch_cap": stopping(group)["epoch_cap"],
                           "E_d_util": float(done.d_util.mean()) if len(done) else None}
        _histogram(ax, done.d_util.to_numpy(float), color, method)
    ax.set_xlabel("d_util")
    stop = stopping(frame)
    ax.set_title(f"{pairing}: " + ", ".join(f"{m} {s['models']} models ({s['diverged']} diverged)"
                                             for m, s in summary.items()) + f"\n{stopping_text(stop)}", fontsize=8)
    fig.tight_layout()
    _save(fig, out_png)
    write_meta(meta, "fig5c", [out_png, sweep_csv, method_sweep_csv], "cmnist_fig5c", params, len(frame),
               summary=summary, paper="extension: the paper shows Fig. 5 for ModelNet40 and NVGesture only",
               stopping=stop, caption=stopping_text(stop))
    return summary


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
    fig.tight_layout()
    _save(fig, out_png)
    stop = stopping(pd.DataFrame(runs))
    write_meta(meta, "dspeed_steps", [out_png], "cmnist_dspeed_plot", params, 2, summary=summary,
               paper="extension: d_speed over training with the re-balancing windows of Algorithm 1",
               stopping=stop, caption=stopping_text(stop))
    return summary


def _mean_std(values: pd.Series) -> tuple[float, float]:
    values = 100 * values.dropna()
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else float("nan")


def table1(unimodal_csv: str, table1_csv: str, out_prefix: str, meta: str, params: dict) -> pd.DataFrame:
    """Table 1: mean ± std test accuracy per method and data set, the paper's value and our
    difference beside each cell; data sets not yet in the pipeline are marked, never filled."""
    unimodal_runs, method_runs = pd.read_csv(unimodal_csv), pd.read_csv(table1_csv)
    rows = []
    best = max(((m, _mean_std(g.loc[g.status == "completed", "test_acc"]))
                for m, g in unimodal_runs.groupby("pairing")), key=lambda item: item[1][0])
    best_runs = unimodal_runs[unimodal_runs.pairing == best[0]]
    ours = {"unimodal": (best[1], len(best_runs), f"best: {best[0]}", 0, stopping(best_runs))}
    branches = {}  # per method, each modality's branch accuracy with fusion intact (A(f_k))
    for method, group in method_runs.groupby("method"):
        done = group[group.status == "completed"]
        ours[method] = (_mean_std(done["test_acc"]), len(group), "", int((group.status == "diverged").sum()),
                        stopping(group))
        if "branch0_acc" in done and len(done):
            modalities = done["pairing"].iloc[0].split("+")
            branches[method] = {m: _mean_std(done[f"branch{k}_acc"]) for k, m in enumerate(modalities)}
    for method in [m for m in paper.TABLE1_ROWS if m in ours or m in paper.TABLE1]:
        for d, dataset in enumerate(paper.DATASETS):
            reference = paper.TABLE1.get(method, [None] * 4)[d]
            row = {"method": method, "row": paper.TABLE1_ROWS[method], "dataset": dataset,
                   "paper_mean": reference[0] if reference else None,
                   "paper_std": reference[1] if reference else None}
            if dataset == "cmnist" and method in ours:
                (mean, std), n, note, diverged, stop = ours[method]
                row.update(ours_mean=mean, ours_std=std, runs=n, diverged=diverged, note=note, status="reproduced",
                           epoch_cap_runs=stop["epoch_cap"], epochs=_epochs(stop),
                           difference=mean - reference[0] if reference else None,
                           within_2_std=bool(abs(mean - reference[0]) <= 2 * reference[1]) if reference else None)
            else:
                row.update(status="not yet reproduced")
            rows.append(row)
    table = pd.DataFrame(rows)
    io.write_csv(f"{out_prefix}.csv", table)

    def cell(r):
        reference = "—" if pd.isna(r.paper_mean) else f"{r.paper_mean:.2f}±{r.paper_std:.2f}"
        if r.status != "reproduced":
            return f"not yet reproduced (paper {reference})"
        std = "" if pd.isna(r.ours_std) else f"±{r.ours_std:.2f}"
        diff = "" if pd.isna(r.get("difference")) else f", Δ {r.difference:+.2f}"
        return f"{r.ours_mean:.2f}{std} (paper {reference}{diff})"

    wide = table.assign(cell=table.apply(cell, axis=1)).pivot(index="row", columns="dataset", values="cell")
    wide = wide.reindex([paper.TABLE1_ROWS[m] for m in dict.fromkeys(table["method"])])
    wide = wide[paper.DATASETS].rename(columns=paper.DATASET_TITLES)
    # How the CMNIST runs stopped: the paper trains until 100 % training accuracy; a run that hit
    # training.cmnist.max_epochs first is counted here.
    cmnist_rows = table[(table.dataset == "cmnist") & (table.status == "reproduced")].set_index("row")
    stop_columns = {"CMNIST runs at the epoch cap": lambda r: "—" if pd.isna(r.epoch_cap_runs)
                    else f"{int(r.epoch_cap_runs)} of {int(r.runs)}",
                    "CMNIST epochs per run": lambda r: r.epochs}
    for column, text in stop_columns.items():
        wide[column] = [text(cmnist_rows.loc[row]) if row in cmnist_rows.index else "—" for row in wide.index]
    wide.index.name = "method"
    io.write_text(f"{out_prefix}.md", "Test accuracy (%), ours (paper, Δ = ours − paper); how the CMNIST "
                  "runs stopped (the epoch cap is training.cmnist.max_epochs).\n\n" + wide.to_markdown() + "\n")
    io.write_text(f"{out_prefix}.tex", wide.to_latex(escape=True))
    reproduced = table[table.status == "reproduced"]
    write_meta(meta, "table1", [f"{out_prefix}.csv", f"{out_prefix}.md", f"{out_prefix}.tex"], "table1",
               params, int(method_runs.shape[0] + (unimodal_runs.pairing == best[0]).sum()),
               cells={f"{r.method}/{r.dataset}": {"ours_mean": r.ours_mean, "ours_std": r.ours_std,
                                                  "paper_mean": r.paper_mean, "paper_std": r.paper_std,
                                                  "within_2_std": r.within_2_std}
                      for r in reproduced.itertuples()},
               branches=branches, stopping={method: value[4] for method, value in ours.items()},
               caption="; ".join(f"{paper.TABLE1_ROWS.get(m, m)}: {stopping_text(v[4])}" for m, v in ours.items()))
    return table


def _signed(value) -> str:
    return "—" if value is None else f"{value:+.3f}"


def report(meta_files: list[str], index_path: str, out: str) -> str:
    """One page: every artifact of the paper, ours beside the paper's, with a verdict."""
    metas = {m["id"]: m for m in (io.read_json(p) for p in meta_files)}
    lines = ["# Reproduction report", "",
             f"Every artifact of the paper (REFERENCE section 1). Index: [{index_path}]({Path(index_path).name}).",
             "Verdicts: Table 1 cells agree when our mean is within the paper's ±2 std; figure",
             f"expectations agree within ±{paper.FIG7_TOLERANCE} on E[d_util]; accuracies quoted in the text",
             f"within ±{paper.TEXT_TOLERANCE_POINTS} points.", ""]
    lines += ["| artifact | paper | ours | verdict | models | index entry |", "|---|---|---|---|---|---|"]
    for artifact_id, description in paper.ARTIFACTS.items():
        if artifact_id == "table1" and "table1" in metas:
            meta = metas["table1"]
            for key, c in meta["cells"].items():
                std = "" if c["ours_std"] is None or pd.isna(c["ours_std"]) else f"±{c['ours_std']:.2f}"
                if c["paper_mean"] is None or pd.isna(c["paper_mean"]):
                    lines.append(f"| table1 {key} | not in the paper | {c['ours_mean']:.2f}{std} | — | "
                                 f"{meta['n_models']} | `table1` |")
                    continue
                verdict = "agrees" if c["within_2_std"] else "differs"
                lines.append(f"| table1 {key} | {c['paper_mean']:.2f}±{c['paper_std']:.2f} | "
                             f"{c['ours_mean']:.2f}{std} | {verdict} | {meta['n_models']} | `table1` |")
            lines.append("| table1 other columns | see Table 1 | not yet reproduced | — | 0 | — |")
        elif artifact_id == "fig7" and "fig7" in metas:
            meta = metas["fig7"]
            for pairing, s in meta["summary"].items():
                expected = paper.FIG7_ABS_E_D_UTIL.get(pairing)
                value = s["E_d_util"]
                verdict = "—" if value is None or expected is None else (
                    "agrees" if abs(abs(value) - expected) <= paper.FIG7_TOLERANCE else "differs")
                shown = "—" if value is None else f"{value:+.3f}"
                cap = "" if s.get("epoch_cap") is None else f", {s['epoch_cap']} at the epoch cap"
                lines.append(f"| fig7 {pairing} E[d_util] | |E| ≈ {expected} | {shown} "
                             f"({s['models']} models, {s['diverged']} diverged{cap}) | {verdict} | {s['models']} | `fig7` |")
        elif artifact_id == "text" and "text:cmnist_unimodal" in metas:
            meta = metas["text:cmnist_unimodal"]
            for modality, value in meta["values"].items():
                expected = paper.CMNIST_UNIMODAL_TEXT[modality]
                verdict = "agrees" if abs(value - expected) <= paper.TEXT_TOLERANCE_POINTS else "differs"
                lines.append(f"| text: CMNIST uni-modal {modality} | {expected:.0f} % | {value:.2f} % | {verdict} | "
                             f"{meta['n_models']} | `text:cmnist_unimodal` |")
            quoted = {k: v for k, v in paper.TEXT_QUOTES.items() if k != "cmnist_unimodal"}
            gray_branch = metas.get("table1", {}).get("branches", {}).get("guided", {}).get("gray")
            if gray_branch is not None:
                (mean, std), (expected, expected_std) = gray_branch, paper.GUIDED_CMNIST_GRAY_BRANCH
                verdict = "agrees" if abs(mean - expected) <= 2 * expected_std else "differs"
                lines.append(f"| text: guided CMNIST gray branch | {expected:.2f}±{expected_std:.2f} % | "
                             f"{mean:.2f}" + ("" if pd.isna(std) else f"±{std:.2f}") + f" % | {verdict} | "
                             f"{metas['table1']['n_models']} | `table1` |")
                del quoted["guided_gray_branch"]
            lines.append(f"| text: other quoted numbers | {'; '.join(quoted.values())} | not yet reproduced | — | 0 | — |")
        else:
            lines.append(f"| {artifact_id} | {description} | not yet reproduced | — | 0 | — |")
    lines += ["", "Extensions beyond the paper's artifacts:", "",
              "| artifact | what | ours | models | index entry |", "|---|---|---|---|---|"]
    if "fig5c" in metas:
        meta = metas["fig5c"]
        shown = ", ".join(f"{m}: E[d_util] = {_signed(s['E_d_util'])}" for m, s in meta["summary"].items())
        lines.append(f"| fig5c | Fig. 5 on CMNIST (vanilla vs guided vs random sweeps) | {shown} | "
                     f"{meta['n_models']} | `fig5c` |")
    if "dspeed_steps" in metas:
        meta = metas["dspeed_steps"]
        shown = "; ".join(f"{m}: " + ", ".join(f"{k} {v}" for k, v in s.items()) for m, s in meta["summary"].items())
        lines.append(f"| dspeed_steps | d_speed over steps, re-balancing shaded | {shown} | 2 | `dspeed_steps` |")
    stopped = []
    for artifact_id, meta in metas.items():
        if "stopping" not in meta:
            continue
        if artifact_id == "table1":  # one entry per method
            stopped += [(artifact_id, paper.TABLE1_ROWS.get(m, m), v) for m, v in meta["stopping"].items()]
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


def _option(flag: str, dest: str, help: str | None = None, required: bool = True) -> tuple:
    return flag, {"dest": dest, "required": required, "help": help}


META = _option("--meta", "meta", "the artifact's <name>.meta.json (merged by `greedy index`)")
PNG = _option("--png", "out_png", "the figure")
METRICS = _option("--metrics", "metrics", "a small JSON of the headline numbers (DVC metrics)", required=False)
SWEEP = _option("--sweep", "sweep_csv", "a study CSV from `greedy collect`")

ARTIFACTS = {
    "unimodal": Artifact(unimodal, "uni-modal baselines table (the paper's text)",
                         (SWEEP, _option("--csv", "out_csv"), _option("--md", "out_md"), META, METRICS)),
    "fig7": Artifact(fig7, "Fig. 7: d_util / d_speed histograms of the learning-rate sweep",
                     (SWEEP, PNG, META, METRICS)),
    "fig5c": Artifact(fig5c, "Fig. 5 on CMNIST: d_util of the vanilla, guided and random sweeps",
                      (SWEEP, _option("--method-sweep", "method_sweep_csv", "the method sweep's CSV"),
                       _option("--pairing", "pairing", "e.g. mono+gray"), PNG, META)),
    "dspeed": Artifact(dspeed, "d_speed over training steps, re-balancing steps shaded",
                       (_option("--guided", "guided_status", "status.json of a guided run"),
                        _option("--vanilla", "vanilla_status", "status.json of a vanilla run"), PNG, META)),
    "table1": Artifact(table1, "Table 1 (csv, md, tex), with how the runs stopped",
                       (_option("--unimodal", "unimodal_csv", "the uni-modal study CSV"),
                        _option("--table1", "table1_csv", "the Table 1 study CSV"),
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
