"""The official-code ablation: how much of guided's CMNIST result each of the official code's
behaviours (procedure.py) accounts for.

Its runs are a study of their own (params.yaml `studies.cmnist.ablation`: each variant's switches
over the paper preset, each method). Every run records, per epoch, the validation and test
accuracy in both evaluation states (train.py), so each row here shows both: the clean state
(checkpoint chosen on clean validation accuracy) and the carried state (checkpoint chosen on
the carried validation accuracy, as the official code chooses). The evaluation state therefore
needs no run of its own. Nor does the counting of perfect epochs, which only decides where
training stops: its row is the paper run's history cut where cumulative counting stops it
(train.count_perfect_epochs, the trainer's own rule), marked "derived".
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from greedy import fileio, paper, procedure  # noqa: E402
from greedy.render.figures import _save  # noqa: E402
from greedy.render.registry import ARTIFACTS  # noqa: E402
from greedy.render.stats import write_meta  # noqa: E402

STATES = ("clean", "carried")
METHOD_ORDER = ("vanilla", "guided", "random")


def stop_epoch(train_acc: list[float], patience: int, counting: str) -> int:
    """The number of epochs a run with this training-accuracy history trains under `counting`
    (the trainer's rule: it stops once `patience` perfect epochs are counted)."""
    from greedy.train import count_perfect_epochs  # the trainer's one definition
    count = 0
    for epoch, acc in enumerate(train_acc, start=1):
        count = count_perfect_epochs(count, acc, counting)
        if count >= patience:
            return epoch
    return len(train_acc)


def chosen(history: pd.DataFrame, state: str) -> dict:
    """The epoch a run keeps when it selects on `state`'s validation accuracy (the first best,
    as the trainer), with that state's test accuracy and branch accuracies there."""
    prefix = "" if state == "clean" else "carried_"
    row = history.loc[history[f"{prefix}val_acc"].idxmax()]
    branches = sorted(c for c in history if c.startswith(f"{prefix}test_acc_b"))
    return {"epoch": int(row["epoch"]), "test_acc": float(row[f"{prefix}test_acc"]),
            "branches": [float(row[c]) for c in branches]}


def rows_of_run(run_dir: Path, d_util: float | None) -> list[dict]:
    """The table rows of one ablation run: itself, and for a paper-preset run the derived
    cumulative-counting row."""
    status = fileio.read_json(run_dir / "status.json")
    config = status["config"]
    history = pd.read_csv(run_dir / "metrics.csv")
    switches = procedure.resolve(config.get("procedure"))
    base = {"method": config["method"], "modalities": "+".join(config["modalities"]), "seed": config["seed"],
            "run": str(run_dir), "status": status["status"]}

    def row(frame: pd.DataFrame, switches: dict, how: str, d_util) -> dict:
        out = {**base, "variant": procedure.label(switches), "selects_on": switches["evaluation_state"],
               "how": how, "epochs": int(frame["epoch"].max()), "d_util_clean": d_util}
        for state in STATES:
            best = chosen(frame, state)
            out.update({f"{state}_epoch": best["epoch"], f"{state}_test_acc": best["test_acc"],
                        **{f"{state}_acc_b{k}": acc for k, acc in enumerate(best["branches"])}})
        return out

    if status["status"] != "completed" or history.empty:
        return [{**base, "variant": procedure.label(switches), "how": "trained", "epochs": len(history)}]
    rows = [row(history, switches, "trained", d_util)]
    if procedure.label(switches) == "paper":
        patience = config["training"]["stop_after_perfect_epochs"]
        cut = stop_epoch(history["train_acc"].tolist(), patience, "cumulative")
        rows.append(row(history[history["epoch"] <= cut], {**switches, "perfect_epochs": "cumulative"},
                        "derived from the paper run", d_util if cut == len(history) else None))
    return rows


def ablation_frame(study_csv: str) -> pd.DataFrame:
    """One row per (method, variant) from the study CSV (`greedy collect`: run folders, d_util)."""
    study = pd.read_csv(study_csv)
    rows = []
    for record in study.to_dict("records"):
        d_util = record.get("d_util")
        rows += rows_of_run(Path(record["run"]), None if pd.isna(d_util) else float(d_util))
    frame = pd.DataFrame(rows)
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    frame["_method"] = frame["method"].map(lambda m: order.get(m, len(order)))
    frame["_variant"] = frame["variant"].map(lambda v: (v != "paper", v == "official", v))
    return frame.sort_values(["_method", "_variant", "seed"]).drop(columns=["_method", "_variant"]).reset_index(drop=True)


def _pct(value) -> str:
    return "—" if value is None or pd.isna(value) else f"{100 * value:.1f}"


def markdown(frame: pd.DataFrame, modalities: list[str], reference: dict) -> str:
    """The table: fused and second-modality branch test accuracy in both states, per row."""
    m1 = modalities[1]
    lines = [f"| method | switches over the paper preset | run | epochs | clean: test acc. (%) | clean: {m1} "
             f"branch (%) | carried: test acc. (%) | carried: {m1} branch (%) | selects on | d_util (clean) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in frame.to_dict("records"):
        d_util = r.get("d_util_clean")
        lines.append(f"| {r['method']} | {r['variant']} | {r['how']} | {r['epochs']} | {_pct(r.get('clean_test_acc'))} | "
                     f"{_pct(r.get('clean_acc_b1'))} | {_pct(r.get('carried_test_acc'))} | "
                     f"{_pct(r.get('carried_acc_b1'))} | {r.get('selects_on', '—')} | "
                     f"{'—' if d_util is None or pd.isna(d_util) else f'{d_util:+.2f}'} |")
    lines += ["", "Paper (reference, full scale, not ours): " + "; ".join(f"{k} {v}" for k, v in reference.items()),
              "clean: checkpoint and numbers from fusion intact; carried: validation and test in the "
              "re-balancing state the epoch's last step left, checkpoint chosen on it (the official code). "
              "d_util is computed clean on the run's own checkpoint."]
    return "\n".join(lines) + "\n"


def figure(frame: pd.DataFrame, out_png: str, title: str) -> None:
    methods = [m for m in METHOD_ORDER if m in set(frame["method"])]
    fig, axes = plt.subplots(1, len(methods), figsize=(4.5 * len(methods), 4.2), squeeze=False, sharey=True)
    for ax, method in zip(axes[0], methods):
        sub = frame[(frame["method"] == method) & frame["clean_test_acc"].notna()]
        x = range(len(sub))
        ax.bar([i - 0.2 for i in x], 100 * sub["clean_test_acc"], 0.4, label="clean", color="#4c72b0")
        ax.bar([i + 0.2 for i in x], 100 * sub["carried_test_acc"], 0.4, label="carried", color="#dd8452")
        ax.set_xticks(list(x), [v.replace("paper + ", "+") for v in sub["variant"]], rotation=35, ha="right",
                      fontsize=8)
        ax.set_title(method)
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(0, 100)
    axes[0][0].legend(title="evaluation state")
    fig.suptitle(title, fontsize=10)
    _save(fig, out_png)


def render(ablation_csv: str, out_csv: str, out_md: str, out_png: str, meta: str, params: dict,
           metrics: str | None = None) -> pd.DataFrame:
    """`greedy render ablation`: the table (csv, md), the figure and the meta.json."""
    frame = ablation_frame(ablation_csv)
    modalities = frame["modalities"].iloc[0].split("+") if len(frame) else ["m0", "m1"]
    reference = {"guided": "91.01 % (Table 1)", "guided gray branch": "{:.2f} % (footnote)".format(
        paper.GUIDED_CMNIST_GRAY_BRANCH[0]), "vanilla": "45.26 %", "random": "74.07 %"}
    fileio.write_csv(out_csv, frame)
    fileio.write_text(out_md, markdown(frame, modalities, reference))
    setting = params.get("studies.cmnist.ablation", {})  # as the rule records it (params_json)
    figure(frame, out_png, "Official-code switches: test accuracy in both evaluation states "
           f"({setting.get('train_size') or 'all'} training digits, ≤ {setting.get('max_epochs') or 'max_epochs'} epochs)")
    summary = {f"{r['method']}/{r['variant']}": {s: r.get(f"{s}_test_acc") for s in STATES}
               for r in frame.to_dict("records") if r["how"] == "trained"}
    write_meta(meta, "ablation", [out_csv, out_md, out_png], ARTIFACTS["ablation"].rule, params,
               int((frame["how"] == "trained").sum()),
               summary=summary)
    if metrics:
        fileio.write_json(metrics, summary)
    return frame
