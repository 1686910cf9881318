"""The studies of the paper as lists of runs, and the collection of their results.

Everything here is a pure function of params.yaml, so Snakemake, DVC and the tests enumerate
exactly the same runs. A run's folder name carries a short hash of its whole configuration:
a changed parameter gives a new folder, never a stale result that looks up to date.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd

from greedy import io
from greedy.config import run_config, short_hash



def sweep_learning_rates(params: dict, dataset: str = "cmnist") -> list[float]:
    """num_lrs learning rates log-uniform in [lr_min, lr_max], drawn from a seeded generator."""
    sweep = params["studies"][dataset]["sweep"]
    rng = np.random.default_rng([params["seed"], 20220717])  # fixed stream per base seed
    exponents = rng.uniform(np.log10(sweep["lr_min"]), np.log10(sweep["lr_max"]), sweep["num_lrs"])
    return [float(f"{lr:.6g}") for lr in 10 ** np.sort(exponents)]


def run_id(study: str, config: dict) -> str:
    name = "-".join(config["modalities"])
    return f"{study}/{name}/{config['method']}-lr{config['lr']:.3g}_seed{config['seed']}_{short_hash(config)}"


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


def collect(utilization_files: list[str]) -> pd.DataFrame:
    """One row per model from the utilization JSONs (diverged runs included, with NaNs)."""
    rows = []
    for path in utilization_files:
        result = io.read_json(path)
        rows.append({"run": result["run"], "pairing": "+".join(result["modalities"]),
                     "modalities": len(result["modalities"]), "method": result["method"],
                     "lr": result["lr"], "seed": result["seed"], "status": result["status"],
                     "test_acc": result.get("test_acc"), "d_util": result.get("d_util"),
                     "d_speed": result.get("d_speed"), "R": result.get("R"),
                     "branch0_acc": result.get("A_f0"), "branch1_acc": result.get("A_f1"),
                     "u_m1_given_m0": result.get("u_m1_given_m0"),
                     "u_m0_given_m1": result.get("u_m0_given_m1")})
    return pd.DataFrame(rows).sort_values(["pairing", "lr", "seed"]).reset_index(drop=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Study helpers.")
    sub = parser.add_subparsers(dest="command", required=True)
    col = sub.add_parser("collect", help="gather utilization JSONs into one CSV")
    col.add_argument("--out", required=True)
    col.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    io.write_csv(args.out, collect(args.files))
    print(json.dumps({"out": args.out}))


if __name__ == "__main__":
    main()
