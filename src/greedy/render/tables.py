"""The tables: uni-modal baselines and three views (the numbers of the paper's text), Table 1."""
from __future__ import annotations

import numpy as np
import pandas as pd

from greedy import fileio, paper
from greedy.render.registry import ARTIFACTS, METHODS, method as declared
from greedy.render.stats import (_completed, _diverged, _epochs, _mean, _mean_std, _named_csvs, _number,
                                 _plus_minus, _short, stopping, stopping_text, write_meta)


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
    fileio.write_csv(out_csv, table)
    fileio.write_text(out_md, table.to_markdown(index=False, floatfmt=".2f") + "\n")
    write_meta(meta, f"text:{dataset}_unimodal", [out_csv, out_md], ARTIFACTS["unimodal"].rule, params, len(frame),
               values={r["modality"]: _number(r["test_acc_mean"]) for r in rows}, paper=quoted,
               stopping=stopping(frame))
    if metrics:
        fileio.write_json(metrics, {r["modality"]: {k: r[k] for k in ("test_acc_mean", "test_acc_std", "runs", "diverged")}
                                for r in rows})
    return table


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
    fileio.write_text(out_md, f"ModelNet40, three views ({', '.join(dict.fromkeys(frame.pairing))}): test accuracy, "
                  "ours (mean ± std over runs) beside the paper's text (Δ = ours − paper).\n\n"
                  + shown.to_markdown(index=False, disable_numparse=True) + "\n")  # keep "+0.100" as written
    stop = stopping(frame)
    write_meta(meta, "text:modelnet40_three_views", [out_md, views_csv], ARTIFACTS["views"].rule, params,
               len(frame), values={r["method"]: _number(r["test_acc_mean"]) for r in rows},
               stds={r["method"]: _number(r["test_acc_std"]) for r in rows},
               d_util={r["method"]: r["d_util_mean"] for r in rows}, paper=quoted, stopping=stop,
               caption=stopping_text(stop))
    return table


# table1.csv's columns (paper.TABLE1_DATASET_COLUMNS are Table 1's data-set columns), in this order: a DVC stage reads ours_mean etc. of the CMNIST rows.
TABLE1_CSV_COLUMNS = ["method", "row", "dataset", "paper_mean", "paper_std", "ours_mean", "ours_std", "runs", "diverged",
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
    row = declared(method).label
    return f"{row} ({_short(dataset)})" if dataset else row


def table1(unimodal_csv, table1_csv, out_prefix: str, meta: str, params: dict) -> pd.DataFrame:
    """Table 1: mean ± std test accuracy per method and data set, the paper's value and our
    difference beside each cell; data sets without runs are marked, never filled.

    `unimodal_csv` and `table1_csv` are one `DATASET=CSV` item or a list of them (a bare path is
    CMNIST's): the uni-modal study (its best modality is the uni-modal row) and the methods' runs."""
    unimodal_csvs, table1_csvs = _named_csvs(unimodal_csv, "cmnist"), _named_csvs(table1_csv, "cmnist")
    unknown = sorted((set(unimodal_csvs) | set(table1_csvs)) - set(paper.TABLE1_DATASET_COLUMNS))
    if unknown:
        raise ValueError(f"Table 1 has no column for {', '.join(unknown)} (its data sets: {', '.join(paper.TABLE1_DATASET_COLUMNS)})")
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
    for name in sorted(methods):
        declared(name)  # a method without a label fails here, by name, rather than vanish from the table
    for method in [m for m in METHODS if m in methods or m in paper.TABLE1]:
        for d, dataset in enumerate(paper.TABLE1_DATASET_COLUMNS):
            reference = paper.TABLE1.get(method, [None] * len(paper.TABLE1_DATASET_COLUMNS))[d]
            row = {"method": method, "row": declared(method).label, "dataset": dataset,
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
    table = pd.DataFrame(rows, columns=TABLE1_CSV_COLUMNS)
    fileio.write_csv(f"{out_prefix}.csv", table)

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
    wide = wide.reindex([declared(m).label for m in dict.fromkeys(table["method"])])
    wide = wide[paper.TABLE1_DATASET_COLUMNS].rename(columns=paper.DATASET_TITLES)
    # How the runs of each reproduced data set stopped: the paper trains until 100 % training
    # accuracy; a run that hit training.<data set>.max_epochs first is counted here.
    for dataset in paper.TABLE1_DATASET_COLUMNS:
        reproduced = table[(table.dataset == dataset) & (table.status == "reproduced")].set_index("row")
        if not len(reproduced):
            continue
        cap = {row: "—" if pd.isna(r.epoch_cap_runs) else f"{int(r.epoch_cap_runs)} of {int(r.runs)}"
               for row, r in reproduced.iterrows()}
        wide[f"{_short(dataset)} runs at the epoch cap"] = [cap.get(row, "—") for row in wide.index]
        wide[f"{_short(dataset)} epochs per run"] = [reproduced.epochs.get(row, "—") for row in wide.index]
    wide.index.name = "method"
    fileio.write_text(f"{out_prefix}.md", "Test accuracy (%), ours (paper, Δ = ours − paper) · the evaluation state "
                  "and preset that produced it (clean: fusion intact; carried: the re-balancing state the last "
                  "training step left, as the official code evaluates; presets: procedure in params.yaml); how "
                  "the runs of each reproduced data set stopped (the epoch cap is training.<data set>.max_epochs).\n\n"
                  + wide.to_markdown() + "\n")
    fileio.write_text(f"{out_prefix}.tex", wide.to_latex(escape=True))
    reproduced = table[table.status == "reproduced"]
    stops = {_table1_key(method, dataset): value[4] for (method, dataset), value in ours.items()}
    measured_how = {_table1_key(method, dataset): value[5] for (method, dataset), value in ours.items()}
    write_meta(meta, "table1", [f"{out_prefix}.csv", f"{out_prefix}.md", f"{out_prefix}.tex"], ARTIFACTS["table1"].rule,
               params, n_models,
               cells={f"{r.method}/{r.dataset}": {"ours_mean": r.ours_mean, "ours_std": r.ours_std,
                                                  "paper_mean": r.paper_mean, "paper_std": r.paper_std,
                                                  "within_2_std": r.within_2_std}
                      for r in reproduced.itertuples()},
               branches=branches, stopping=stops, measured_how=measured_how,
               caption="; ".join(f"{_table1_label(key)}: {stopping_text(s)}" for key, s in stops.items()))
    return table
