"""Tables, figures and the results index.

Every rendered artifact also writes `<artifact>.meta.json` (its id from REFERENCE section 1, the
files, the rule and parameters that made it, and how many models are behind it); the `index`
command merges them into results/index.json.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.stats import gaussian_kde  # noqa: E402

from greedy import io  # noqa: E402

# Paper numbers, shown only as a labelled reference column.
PAPER = {
    "unimodal_test_acc": {"mono": "41 (text)", "gray": "99 (text)"},
    "fig7_abs_E_d_util": "≈ 0.3 (mono+gray); ≈ 0.0 for identical copies",
}


def write_meta(path, artifact_id: str, paths: list[str], rule: str, params: dict, n_models: int,
               **extra) -> None:
    io.write_json(path, {"id": artifact_id, "paths": [str(p) for p in paths], "rule": rule,
                         "params": params, "n_models": int(n_models), **extra})


def unimodal(sweep_csv: str, out_csv: str, out_md: str, meta: str, params: dict,
             metrics: str | None = None) -> pd.DataFrame:
    frame = pd.read_csv(sweep_csv)
    rows = []
    for modality, group in frame.groupby("pairing"):
        done = group[group["status"] == "completed"]
        acc = 100 * done["test_acc"]
        rows.append({"modality": modality, "runs": len(group), "diverged": int((group["status"] == "diverged").sum()),
                     "test_acc_mean": acc.mean(), "test_acc_std": acc.std(ddof=1) if len(acc) > 1 else float("nan"),
                     "paper_test_acc": PAPER["unimodal_test_acc"].get(modality, "")})
    table = pd.DataFrame(rows)
    io.write_csv(out_csv, table)
    io.write_text(out_md, table.to_markdown(index=False, floatfmt=".2f") + "\n")
    write_meta(meta, "text:cmnist_unimodal", [out_csv, out_md], "cmnist_unimodal_table", params, len(frame),
               values={r["modality"]: r["test_acc_mean"] for r in rows})
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
        summary[pairing] = {"models": len(group), "diverged": diverged,
                            "E_d_util": float(done["d_util"].mean()) if len(done) else None,
                            "E_d_speed": float(done["d_speed"].mean()) if len(done) else None}
        _histogram(axes[0, j], done["d_util"].to_numpy(float), "tab:blue", "d_util")
        _histogram(axes[1, j], done["d_speed"].to_numpy(float), "tab:orange", "d_speed")
        axes[0, j].set_title(f"{pairing}: {len(done)} models, {diverged} diverged (excluded)", fontsize=9)
        axes[0, j].set_xlabel("d_util")
        axes[1, j].set_xlabel("d_speed")
    fig.suptitle("Colored-and-gray-MNIST learning-rate sweep (paper Fig. 7; paper |E[d_util]| ≈ 0.3 for mono+gray)",
                 fontsize=10)
    fig.tight_layout()
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(out_png).with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(out_png)
    write_meta(meta, "fig7", [out_png, sweep_csv], "cmnist_fig7", params, len(frame), summary=summary,
               paper=PAPER["fig7_abs_E_d_util"])
    if metrics:
        io.write_json(metrics, summary)
    return summary


def index(meta_files: list[str], out: str) -> dict:
    entries = sorted((io.read_json(p) for p in meta_files), key=lambda e: e["id"])
    result = {"artifacts": entries}
    io.write_json(out, result)
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Render tables, figures and the results index.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("unimodal", "fig7"):
        p = sub.add_parser(name)
        p.add_argument("--sweep", required=True, help="CSV from `greedy.studies collect`")
        p.add_argument("--meta", required=True)
        p.add_argument("--params-json", default="{}", help="parameters recorded in the index")
        p.add_argument("--metrics", help="a small JSON of the headline numbers (DVC metrics)")
        if name == "unimodal":
            p.add_argument("--csv", required=True)
            p.add_argument("--md", required=True)
        else:
            p.add_argument("--png", required=True)
    p = sub.add_parser("index")
    p.add_argument("--out", required=True)
    p.add_argument("meta", nargs="+")
    args = parser.parse_args(argv)
    if args.command == "unimodal":
        print(unimodal(args.sweep, args.csv, args.md, args.meta, json.loads(args.params_json), args.metrics).to_string(index=False))
    elif args.command == "fig7":
        print(json.dumps(fig7(args.sweep, args.png, args.meta, json.loads(args.params_json), args.metrics), indent=2))
    else:
        index(args.meta, args.out)


if __name__ == "__main__":
    main()
