"""Measured runs kept in git: the small outputs of finished real-data runs under measured/.

Machines are not kept, checkpoints are large, and a paper-scale number must survive a change of
machine: `greedy measured` copies each finished run's small outputs (status.json, config.json,
metrics.csv, steps.csv, speed.csv, utilization.json; never a checkpoint) from a results folder
to measured/<dataset>/runs/<study>/..., and writes the study's CSV beside them
(measured/<dataset>/<study>.csv, the same columns as `greedy collect`'s, its `run` column
pointing into measured/). `greedy render` then rebuilds the README's tables from those files,
e.g. `greedy render ablation --ablation measured/cmnist/ablation.csv ...` (README).
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from greedy import fileio
from greedy.studies import collect

SMALL_OUTPUTS = ("status.json", "config.json", "metrics.csv", "steps.csv", "speed.csv", "utilization.json")


def save(results_dir: str | Path, dataset: str, study: str, out_dir: str | Path = "measured") -> dict:
    """Copy every finished run of `study` (status.json and utilization.json present) and write
    the study's CSV; runs still training are left out and counted."""
    source = Path(results_dir) / "runs" / dataset / study
    target = Path(out_dir) / dataset
    finished, unfinished = [], 0
    for status in sorted(source.rglob("status.json")):
        run_dir = status.parent
        if not (run_dir / "utilization.json").exists():
            unfinished += 1
            continue
        dest = target / "runs" / study / run_dir.relative_to(source)
        dest.mkdir(parents=True, exist_ok=True)
        for name in SMALL_OUTPUTS:
            if (run_dir / name).exists():
                shutil.copyfile(run_dir / name, dest / name)
        utilization = fileio.read_json(dest / "utilization.json")
        utilization["run"] = str(dest)  # the study CSV points at the kept copy
        fileio.write_json(dest / "utilization.json", utilization)
        finished.append(str(dest / "utilization.json"))
    unfinished += sum(1 for p in source.rglob("last.pt") if not (p.parent / "status.json").exists())
    if not finished:
        raise SystemExit(f"greedy measured: no finished run of {dataset}/{study} under {source}")
    fileio.write_csv(target / f"{study}.csv", collect(finished))
    return {"study": f"{dataset}/{study}", "runs": len(finished), "unfinished": unfinished,
            "csv": str(target / f"{study}.csv")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", default="results", help="the results folder (params.yaml results_dir)")
    parser.add_argument("--dataset", default="cmnist")
    parser.add_argument("--study", required=True, help="e.g. ablation, table1, unimodal")
    parser.add_argument("--out", default="measured", help="the folder kept in git (default: measured)")


def run(args: argparse.Namespace) -> dict:
    result = save(args.results, args.dataset, args.study, args.out)
    print(json.dumps(result))
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="greedy measured", description=__doc__.splitlines()[0])
    add_arguments(parser)
    run(parser.parse_args(argv))
