"""The studies of the paper as lists of runs, and the collection of their results.

Everything here is a pure function of params.yaml, so Snakemake, DVC and the tests enumerate
exactly the same runs. A run's folder name carries a short hash of what in its configuration can
change its results (config.run_hash): a changed parameter gives a new folder, never a stale
result that looks up to date, while the device, paths, the evaluation batch size and other
methods' parameters leave the folder where it is.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
from tqdm import tqdm

from greedy import fileio, procedure
from greedy.config import deep_merge, load_params, run_config, run_hash
from greedy.data import data_dir

def sweep_learning_rates(params: dict, dataset: str = "cmnist") -> list[float]:
    """The sweep's learning rates: the listed `lrs` (ModelNet40's nine), or num_lrs drawn
    log-uniform in [lr_min, lr_max] from a seeded generator (CMNIST, NVGesture)."""
    sweep = params["studies"][dataset]["sweep"]
    if sweep.get("lrs"):
        return [float(lr) for lr in sweep["lrs"]]
    rng = np.random.default_rng([params["seed"], 20220717])  # fixed stream per base seed
    exponents = rng.uniform(np.log10(sweep["lr_min"]), np.log10(sweep["lr_max"]), sweep["num_lrs"])
    return [float(f"{lr:.6g}") for lr in 10 ** np.sort(exponents)]


def run_id(study: str, config: dict, tag: str = "") -> str:
    name = "-".join(config["modalities"])
    return (f"{study}/{name}/{config['method']}{tag}-lr{config['lr']:.3g}_seed{config['seed']}_"
            f"{run_hash(config)}")


# Studies whose runs depend on a measured value: the α sensitivity sets α as a fraction of the
# sweep's E[d_util], so its runs exist only once that is measured (a Snakemake checkpoint).
MEASURED_STUDIES = ("sensitivity_alpha",)


def study_runs(params: dict, dataset: str, measured: dict | None = None) -> dict[str, dict]:
    """run id -> {"study", "config", "data"} for every study of `dataset` in params.yaml: the
    uni-modal baselines, the learning-rate sweep (each pairing), its repetition with each
    re-balancing method, the L1 study, Table 1, the sensitivity to Q and (with `measured`, the
    sweep's {"E_d_util": ...}) to α, and extra views. "data" holds data parameters a study
    overrides (three views), so the data rule can prepare that variant too."""
    study = params["studies"][dataset]
    seed0 = params["seed"]
    runs: dict[str, dict] = {}

    def add(name, modalities, lr, seed, method="vanilla", tag="", data=None, l1=None, method_overrides=None,
            model=None, training=None, switches=None, **extra):
        run_params = deep_merge(params, {"data": {dataset: data}}) if data else params
        run_params = deep_merge(run_params, {"models": {dataset: model}}) if model else run_params
        run_params = deep_merge(run_params, {"training": {dataset: training}}) if training else run_params
        if switches:  # the ablation's switches replace the data set's procedure section
            run_params = {**run_params, "procedure": {**run_params.get("procedure", {}), dataset: switches}}
        config = run_config(run_params, dataset, modalities, lr, seed, method, l1, method_overrides)
        runs[run_id(name, config, tag)] = {"study": name, "config": config, "data": data or {}, **extra}

    if "unimodal" in study:
        for modality in study["unimodal"].get("modalities", study["modalities"]):
            for r in range(study["unimodal"]["runs"]):
                add("unimodal", [modality], study["unimodal"]["lr"], seed0 + r)
    if "sweep" in study:
        lrs = sweep_learning_rates(params, dataset)
        for pairing in study["sweep"]["pairings"]:
            for i, lr in enumerate(lrs):
                for r in range(study["sweep"]["runs"]):
                    add("sweep", pairing, lr, seed0 + r, lr_index=i)
        for method in study.get("method_sweep", {}).get("methods", []):
            for i, lr in enumerate(lrs):
                for r in range(study["sweep"]["runs"]):
                    add("method_sweep", study["modalities"], lr, seed0 + r, method=method, lr_index=i)
    if "l1" in study:
        for weight in study["l1"]["lambdas"]:
            for r in range(study["l1"]["runs"]):
                add("l1", study["modalities"], study["l1"]["lr"], seed0 + r, tag=f"_l1{weight:.3g}", l1=weight)
    if "table1" in study:
        for method in study["table1"]["methods"]:
            for r in range(study["table1"]["runs"]):
                add("table1", study["modalities"], study["table1"]["lr"], seed0 + r, method=method)
    if "table1_pretrained" in study:  # Table 1's NVGesture-pretrained column
        pretrained = study["table1_pretrained"]
        for method in pretrained["methods"]:
            for r in range(pretrained["runs"]):
                add("table1_pretrained", study["modalities"], pretrained["lr"], seed0 + r, method=method,
                    model={"pretrained": pretrained["weights"]})
    if "sensitivity" in study:
        sensitivity = study["sensitivity"]
        for q in sensitivity["rebalance_steps"]:
            for r in range(sensitivity["runs"]):
                add("sensitivity_q", study["modalities"], sensitivity["lr"], seed0 + r, method="guided",
                    tag=f"_q{q}", method_overrides={"rebalance_steps": q})
        if measured is not None:
            for fraction in sensitivity["alpha_fractions"]:
                alpha = float(f"{fraction * abs(measured['E_d_util']):.6g}")
                for r in range(sensitivity["runs"]):
                    add("sensitivity_alpha", study["modalities"], sensitivity["lr"], seed0 + r, method="guided",
                        tag=f"_a{fraction:g}", method_overrides={"alpha": alpha}, alpha_fraction=fraction)
    if "ablation" in study:  # the official-code switches one at a time (procedure.py)
        ablation = study["ablation"]
        data = {"train_size": ablation["train_size"]} if ablation.get("train_size") else None
        training = {"max_epochs": ablation["max_epochs"]} if ablation.get("max_epochs") else None
        for switches in ablation["variants"]:
            tag = "_" + "_".join(f"{k}-{v}" for k, v in sorted(switches.items())) if switches else ""
            for method in ablation["methods"]:
                if procedure.inert(method, switches, ablation.get("rebalancing_switches_for")):
                    continue  # e.g. a re-balancing switch for vanilla: the paper variant's run
                for r in range(ablation["runs"]):
                    add("ablation", study["modalities"], ablation["lr"], seed0 + r, method=method, tag=tag,
                        data=data, training=training, switches=switches)
    if "views" in study:
        views = study["views"]
        modalities = [f"view{k}" for k in range(len(views["views"]))]
        for method in views["methods"]:
            for r in range(views["runs"]):
                add("views", modalities, views["lr"], seed0 + r, method=method, data={"views": views["views"]})
    return _mark_same_runs(runs)


def _mark_same_runs(runs: dict[str, dict]) -> dict[str, dict]:
    """One configuration, one training: a run whose configuration equals an earlier study's run
    (Table 1's vanilla is the ablation's paper-variant vanilla, ModelNet40's Table 1 runs are
    sweep runs at its learning rate) gets "same_as": that run's id. Its train job copies the
    finished run instead of training it again (train.copy_finished_run); its folder, evaluation
    and rows stay its study's own."""
    first: dict[str, str] = {}
    for rid, run in runs.items():
        key = json.dumps(run["config"], sort_keys=True)
        if key in first:
            run["same_as"] = first[key]
        else:
            first[key] = rid
    return runs


def data_variants(params: dict, dataset: str) -> dict[str, dict]:
    """Prepared-data folder -> the data parameters that make it: the data set's own and those
    of studies that override them (three views)."""
    variants = {str(data_dir(params, dataset)): params["data"][dataset]}
    for run in study_runs(params, dataset).values():
        if run["data"]:
            variants[run["config"]["data_dir"]] = deep_merge(params["data"][dataset], run["data"])
    return variants


def expected_d_util(study_csv: str, pairing: str) -> dict:
    """E[d_util] over the finished models of one pairing of a sweep (what α is a fraction of)."""
    frame = pd.read_csv(study_csv)
    done = frame[(frame["pairing"] == pairing) & (frame["status"] == "completed") & frame["d_util"].notna()]
    if done.empty:
        raise ValueError(f"{study_csv}: no finished {pairing} model to measure E[d_util] from")
    return {"E_d_util": float(done["d_util"].mean()), "pairing": pairing, "models": int(len(done))}


COLUMNS = {"test_acc": "test_acc", "evaluation_state": "evaluation_state", "test_acc_clean": "test_acc_clean",
           "test_acc_carried": "test_acc_carried", "d_util": "d_util", "d_speed": "d_speed", "R": "R",
           "u_m1_given_m0": "u_m1_given_m0", "u_m0_given_m1": "u_m0_given_m1",
           "epochs_run": "epochs_run", "stopped_by": "stopped_by", "l1": "l1"}


def collect(utilization_files: list[str], progress: bool = False) -> pd.DataFrame:
    """One row per model from the utilization JSONs (diverged runs included, with NaNs), with how
    each run stopped (epochs_run; stopped_by: perfect_train, epoch_cap or diverged)."""
    rows = []
    for path in tqdm(utilization_files, desc="collect", unit="run", disable=not progress):
        result = fileio.read_json(path)
        rows.append({"run": result["run"], "pairing": "+".join(result["modalities"]),
                     "modalities": len(result["modalities"]), "method": result["method"],
                     "lr": result["lr"], "seed": result["seed"], "status": result["status"],
                     **{column: result.get(key) for column, key in COLUMNS.items()},
                     **{f"branch{k}_acc": result.get(f"A_f{k}") for k in range(len(result["modalities"]))},
                     **{f"branch{k}_acc_carried": carried for k, carried in enumerate(
                         result.get("test_acc_branches_carried") or [None] * len(result["modalities"]))},
                     # the sensitivity studies' Q and α (empty for methods without them)
                     "rebalance_steps": result.get("method_params", {}).get("rebalance_steps"),
                     "procedure": procedure.label(procedure.resolve(result.get("procedure"))),
                     "alpha": result.get("method_params", {}).get("alpha")})
    if not rows:  # a study configured with no runs (e.g. no pre-trained weights here): header only
        return pd.DataFrame(columns=["run", "pairing", "modalities", "method", "lr", "seed", "status",
                                     *COLUMNS, "rebalance_steps", "alpha", "procedure"])
    return pd.DataFrame(rows).sort_values(["pairing", "lr", "seed"]).reset_index(drop=True)


def write_sweep_lrs(params: dict, out: str, dataset: str = "cmnist") -> list[float]:
    """The learning-rate sweep's learning rates as a CSV (lr_index, lr)."""
    lrs = sweep_learning_rates(params, dataset)
    fileio.write_csv(out, pd.DataFrame({"lr_index": range(len(lrs)), "lr": lrs}))
    return lrs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`greedy collect`: a study's utilization JSONs -> one study CSV."""
    parser.add_argument("--out", required=True, help="the study CSV")
    parser.add_argument("files", nargs="*", metavar="UTILIZATION_JSON", help="utilization.json of every run")
    parser.add_argument("--allow-empty", action="store_true",
                        help="a study with no runs (configured runs: 0) writes a CSV with the header only")


def run(args: argparse.Namespace) -> None:
    if not args.files and not args.allow_empty:
        raise SystemExit("greedy collect: give the utilization JSONs to collect")
    fileio.write_csv(args.out, collect(args.files, progress=len(args.files) > 20))
    print(json.dumps({"out": args.out, "runs": len(args.files)}))


def add_sweep_lrs_arguments(parser: argparse.ArgumentParser) -> None:
    """`greedy sweep-lrs`: the learning-rate sweep's learning rates, from the parameters."""
    parser.add_argument("--out", required=True, help="the CSV (lr_index, lr)")
    parser.add_argument("--dataset", default="cmnist", help="the data set whose sweep it is")
    parser.add_argument("--params", nargs="+", default=["params.yaml"], metavar="FILE",
                        help="params.yaml and overlays, later files win")
    parser.add_argument("--params-json", help="the merged parameters as JSON (as Snakemake passes them); "
                        "replaces --params")


def run_sweep_lrs(args: argparse.Namespace) -> None:
    params = json.loads(args.params_json) if args.params_json else load_params(args.params)
    print(json.dumps({"out": args.out, "lrs": write_sweep_lrs(params, args.out, args.dataset)}))


def add_expected_d_util_arguments(parser: argparse.ArgumentParser) -> None:
    """`greedy expected-d-util`: E[d_util] of one pairing's models in a study CSV."""
    parser.add_argument("study_csv", metavar="STUDY_CSV", help="a study CSV of `greedy collect`")
    parser.add_argument("--pairing", required=True, help="e.g. front+rear")
    parser.add_argument("--out", required=True, help="the JSON")


def run_expected_d_util(args: argparse.Namespace) -> None:
    expected = expected_d_util(args.study_csv, args.pairing)
    fileio.write_json(args.out, expected)
    print(json.dumps(expected))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="greedy collect", description="Gather a study's results into one CSV.")
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
