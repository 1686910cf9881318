"""Statistics of study CSVs for the renderers: how runs stopped, means and stds over seeds,
grouping per swept value, rank correlation, and the meta.json every artifact writes.

Study CSVs (`greedy collect`) have one row per trained model. Diverged models have no metrics:
they are counted in every title and meta, never averaged and never dropped silently.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from greedy import fileio, paper


def write_meta(path, artifact_id: str, paths: list[str], rule: str, params: dict, n_models: int,
               **extra) -> None:
    fileio.write_json(path, {"id": artifact_id, "paths": [str(p) for p in paths], "rule": rule,
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


def _models(n) -> str:
    return f"{n} model" + ("" if n == 1 else "s")


def _number(value) -> float | None:
    """A number for a meta.json: None where it is missing or not finite."""
    return None if value is None or not np.isfinite(value) else float(value)


def _mean(values: pd.Series) -> float | None:
    return _number(values.mean())  # NaN (no value) becomes None


def _mean_std(values: pd.Series) -> tuple[float, float]:
    """Mean and sample std of accuracies (fractions) in percent; NaN where undefined."""
    values = 100 * values.dropna()
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else float("nan")


def _plus_minus(mean, std, digits: int = 2) -> str:
    if mean is None or pd.isna(mean):
        return "—"
    return f"{mean:.{digits}f}" + ("" if std is None or pd.isna(std) else f" ± {std:.{digits}f}")


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


def _at(table: pd.DataFrame, by: str, x: float, column: str) -> float | None:
    row = table[np.isclose(table[by], x)]
    return _number(row[column].iloc[0]) if len(row) else None


def _spearman(x: pd.Series, y: pd.Series) -> float | None:
    """Spearman's rank correlation over the pairs where both are known; None below three pairs or
    for a constant series (where it is undefined)."""
    both = pd.concat([x, y], axis=1).dropna()
    if len(both) < 3 or (both.nunique() < 2).any():
        return None
    return _number(spearmanr(both.iloc[:, 0], both.iloc[:, 1])[0])


def _most_different_pairing(pairings: pd.Series) -> str:
    """The pairing with the most distinct modalities, the first such in the CSV: two different
    modalities rather than two copies of one (or a uni-modal model)."""
    return max(dict.fromkeys(pairings), key=lambda p: len(set(p.split("+"))))
