"""results/report.md (every paper artifact, ours beside the paper's, with a verdict) and
results/index.json (every rendered artifact and what made it), from the artifacts' meta.json.
"""
from __future__ import annotations

import importlib
from pathlib import Path

import pandas as pd

from greedy import fileio, paper
from greedy.render.registry import ARTIFACTS
from greedy.render.stats import LABELS, _epochs, _models, _plus_minus, _short
from greedy.render.tables import _table1_label


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
        for dataset, (mean, std) in zip(paper.TABLE1_DATASET_COLUMNS, cells):
            if f"{method}/{dataset}" not in meta["cells"]:
                lines.append(_row(f"table1 {method}/{dataset}", f"{mean:.2f}±{std:.2f}", "not yet reproduced", "—",
                                  0, None))
    return lines


def _expectation_rows(artifact_id: str, meta: dict, signed: bool) -> list[str]:
    """E[d_util] per group of the meta's summary against the paper's: per pairing |E[d_util]|
    (Fig. 7, 2a, 2b), or per method the signed E[d_util] (Fig. 5a, 5b)."""
    lines = []
    for group, s in meta["summary"].items():
        expected, value = s.get("paper_E_d_util" if signed else "paper_abs_E_d_util"), s["E_d_util"]
        cap = "" if s.get("epoch_cap") is None else f", {s['epoch_cap']} at the epoch cap"
        shown = "—" if expected is None else (f"≈ {expected:+.1f}" if signed else f"|E| ≈ {expected}")
        ours = value if signed or value is None else abs(value)
        lines.append(_row(f"{artifact_id} {group} E[d_util]", shown,
                          f"{_signed(value)} ({_models(s['models'])}, {s['diverged']} diverged{cap})",
                          _verdict(ours, expected, paper.E_D_UTIL_TOLERANCE), s["models"], artifact_id))
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


def methods_summary(meta: dict) -> str:
    return ", ".join(f"{m}: E[d_util] = {_signed(s['E_d_util'])}" for m, s in meta["summary"].items())


def ablation_summary(meta: dict) -> str:
    return "; ".join(f"{key}: clean {_percent(v['clean'])} / carried {_percent(v['carried'])}"
                     for key, v in meta["summary"].items() if key.startswith("guided/"))


def dspeed_summary(meta: dict) -> str:
    return "; ".join(f"{m}: " + ", ".join(f"{k} {v}" for k, v in s.items()) for m, s in meta["summary"].items())


def extension_summary(artifact, meta: dict) -> str:
    """An extension's "ours" cell: its declared summary function, else its meta's summary."""
    if artifact.summary:
        module, _, name = artifact.summary.partition(":")
        return getattr(importlib.import_module(f"greedy.render.{module}"), name)(meta)
    return "; ".join(f"{key}: {value}" for key, value in (meta.get("summary") or {}).items()) or "—"


def report(meta_files: list[str], index_path: str, out: str) -> str:
    """One page: every artifact of the paper, ours beside the paper's, with a verdict."""
    metas = {m["id"]: m for m in (fileio.read_json(p) for p in meta_files)}
    lines = ["# Reproduction report", "",
             f"Every artifact of the paper (REFERENCE section 1). Index: [{index_path}]({Path(index_path).name}).",
             "Verdicts: Table 1 cells agree when our mean is within the paper's ±2 std; figure",
             f"expectations agree within ±{paper.E_D_UTIL_TOLERANCE} on E[d_util]; accuracies quoted in the text",
             f"within ±{paper.TEXT_TOLERANCE_POINTS} points; \"qualitative\" where the paper states a trend",
             "without a number (ours is what we measured).", ""]
    lines += scale_notes(metas.get("table1", {}).get("params", {}))
    lines += ["| artifact | paper | ours | verdict | models | index entry |", "|---|---|---|---|---|---|"]
    # each paper artifact's rows, by how the registry draws it: pairing histograms (Fig. 7, 2a, 2b),
    # method histograms (Fig. 5a, 5b), Table 1, the text's numbers, else a measured trend
    kinds = {"table1": lambda a: _table1_rows(metas[a]),
             "sweep_histograms": lambda a: _expectation_rows(a, metas[a], signed=False),
             "method_histograms": lambda a: _expectation_rows(a, metas[a], signed=True)}
    rows_of = {a.paper: (lambda a=a: kinds.get(a.rule, lambda a: _qualitative_rows(a, metas[a]))(a.paper))
               for a in ARTIFACTS.values() if a.paper not in (None, "text")}
    rows_of["text"] = lambda: _text_rows(metas)
    for artifact_id, description in paper.ARTIFACTS.items():
        if artifact_id in rows_of and (artifact_id in metas or artifact_id == "text"):
            lines += rows_of[artifact_id]()
        else:
            lines.append(_row(artifact_id, description, "not yet reproduced", "—", 0, None))
    lines += ["", "Extensions beyond the paper's artifacts:", "",
              "| artifact | what | ours | models | index entry |", "|---|---|---|---|---|"]
    for artifact in ARTIFACTS.values():  # every extension the registry declares, in its order
        if artifact.paper is None and artifact.entry in metas:
            meta = metas[artifact.entry]
            lines.append(f"| {artifact.entry} | {artifact.help} | {extension_summary(artifact, meta)} | "
                         f"{meta['n_models']} | `{artifact.entry}` |")
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
    fileio.write_text(out, text)
    return text


def index(meta_files: list[str], out: str) -> dict:
    entries = sorted((fileio.read_json(p) for p in meta_files), key=lambda e: e["id"])
    result = {"artifacts": entries}
    fileio.write_json(out, result)
    return result
