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

from greedy import io
from greedy.config import load_params, run_config, run_hash

def sweep_learning_rates(params: dict, dataset: str = "cmnist") -> list[float]:
    """num_lrs learning rates log-uniform in [lr_min, lr_max], drawn from a seeded generator."""
    sweep = params["studies"][dataset]["sweep"]
    rng = np.random.default_rng([params["seed"], 20220717])  # fixed stream per base seed
    exponents = rng.uniform(np.log10(sweep["lr_min"]), np.log10(sweep["lr_max"]), sweep["num_lrs"])
    return [float(f"{lr:.6g}") for lr in 10 ** np.sort(exponents)]


def run_id(study: str, config: dict) -> str:
    name = "-".join(config["modalities"])
    return f"{study}/{name}/{config['method']}-lr{config['lr']:.3g}_seed{config['seed']}_{run_hash(config)}"


def cmnist_runs(params: dict) -> dict[str, dict]:
    """run id -> {"study", "config"} for the uni-modal baselines, the learning-rate sweep (and
    its repetition with each re-balancing method) and the Table 1 runs."""
    study = params["studies"]["cmnist"]
    runs: dict[str, dict] = {}

    def add(name, modalities, lr, seed, method="vanilla", **extra):
        config = run_config(params, "cmnist", modalities, lr, seed, method)
        runs[run_id(name, config)] = {"study": name, "config": config, **extra}

    for modality in ("mono", "gray"):
        for r in range(study["unimodal"]["runs"]):
            add("unimodal", [modality], study["unimodal"]["lr"], params["seed"] + r)
    for pairing in study["sweep"]["pairings"]:
        for i, lr in enumerate(sweep_learning_rates(params)):
            for r in range(study["sweep"]["runs"]):
                add("sweep", pairing, lr, params["seed"] + r, lr_index=i)
    for method in study["method_sweep"]["methods"]:
        for i, lr in enumerate(sweep_learning_rates(params)):
            for r in range(study["sweep"]["runs"]):
                add("method_sweep", study["modalities"], lr, params["seed"] + r, method=method, lr_index=i)
    table1 = study["table1"]
    for method in table1["methods"]:
        for r in range(table1["runs"]):
            add("table1", study["modalities"], table1["lr"], params["seed"] + r, method=method)
    return runs


COLUMNS = {"test_acc": "test_acc", "d_util": "d_util", "d_speed": "d_speed", "R": "R",
           "branch0_acc": "A_f0", "branch1_acc": "A_f1", "u_m1_given_m0": "u_m1_given_m0",
           "u_m0_given_m1": "u_m0_given_m1", "epochs_run": "epochs_run", "stopped_by": "stopped_by"}


def collect(utilization_files: list[str], progress: bool = False) -> pd.DataFrame:
    """One row per model from the utilization JSONs (diverged runs included, with NaNs), with how
    each run stopped (epochs_run; stopped_by: perfect_train, epoch_cap or diverged)."""
    rows = []
    for path in tqdm(utilization_files, desc="collect", unit="run", disable=not progress):
        result = io.read_json(path)
        rows.append({"run": result["run"], "pairing": "+".join(result["modalities"]),
                     "modalities": len(result["modalities"]), "method": result["method"],
                     "lr": result["lr"], "seed": result["seed"], "status": result["status"],
                     **{column: result.get(key) for column, key in COLUMNS.items()}})
    return pd.DataFrame(rows).sort_values(["pairing", "lr", "seed"]).reset_index(drop=True)


def write_sweep_lrs(params: dict, out: str) -> list[float]:
    """The learning-rate sweep's learning rates as a CSV (lr_index, lr)."""
    lrs = sweep_learning_rates(params)
    io.write_csv(out, pd.DataFrame({"lr_index": range(len(lrs)), "lr": lrs}))
    return lrs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`greedy collect`: utilization JSONs -> one study CSV; or, with --sweep-lrs, the sweep's
    learning rates from the parameters."""
    parser.add_argument("--out", required=True, help="output CSV")
    parser.add_argument("files", nargs="*", metavar="UTILIZATION_JSON", help="utilization.json of every run")
    parser.add_argument("--sweep-lrs", action="store_true",
                        help="write the learning-rate sweep's learning rates (from --params) instead")
    parser.add_argument("--params", nargs="+", default=["params.yaml"], metavar="FILE",
                        help="params.yaml and overlays, later files win (with --sweep-lrs)")
    parser.add_argument("--params-json", help="the merged parameters as JSON (as Snakemake passes them); "
                        "replaces --params")


def run(args: argparse.Namespace) -> None:
    if args.sweep_lrs:
        params = json.loads(args.params_json) if args.params_json else load_params(args.params)
        print(json.dumps({"out": args.out, "lrs": write_sweep_lrs(params, args.out)}))
        return
    if not args.files:
        raise SystemExit("greedy collect: give the utilization JSONs to collect (or --sweep-lrs)")
    io.write_csv(args.out, collect(args.files, progress=len(args.files) > 20))
    print(json.dumps({"out": args.out, "runs": len(args.files)}))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="greedy collect", description="Gather a study's results into one CSV.")
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
