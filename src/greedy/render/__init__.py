"""Tables, figures, the results index and the report (`greedy render`, `greedy report`, `greedy index`).

Every rendered artifact also writes `<artifact>.meta.json` (its id from REFERENCE section 1, the
files, the rule and parameters that made it, how many models are behind it and how they stopped,
the paper's values beside ours); `greedy index` merges them into results/index.json and
`greedy report` writes results/report.md. `greedy render <artifact>` makes one artifact of the
registry (registry.ARTIFACTS, where each artifact and each method is declared once).

    registry.py     the artifacts and methods (no plotting imports: Snakemake and dvcfile read it)
    stats.py        statistics of study CSVs and the meta.json writer
    figures.py      sweep and method histograms, d_util vs learning rate, d_speed over steps
    sensitivity.py  the L1 study (Fig. 3, 4, 8) and the sensitivity to Q and α (Fig. 9)
    tables.py       uni-modal baselines, three views, Table 1
    reporting.py    results/report.md and results/index.json
    ablation.py     the official-code ablation (table and figure)

Names of the submodules' functions are reachable here too (render.table1, render.report, ...),
imported on first use so that reading the registry does not load matplotlib.
"""
from __future__ import annotations

import argparse
import importlib
import json

from greedy.render.registry import ARTIFACTS, METHODS  # noqa: F401

_SUBMODULES = ("stats", "figures", "sensitivity", "tables", "reporting", "ablation", "registry")


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"greedy.render.{name}")
    for module in _SUBMODULES:
        found = getattr(importlib.import_module(f"greedy.render.{module}"), name, None)
        if found is not None:
            return found
    raise AttributeError(f"module 'greedy.render' has no attribute {name!r}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`greedy render <artifact> ...`: one subcommand per entry of ARTIFACTS."""
    sub = parser.add_subparsers(dest="artifact", required=True, metavar="ARTIFACT")
    for name, artifact in ARTIFACTS.items():
        p = sub.add_parser(name, help=artifact.help, description=artifact.help)
        for flag, kwargs in artifact.options:
            p.add_argument(flag, **kwargs)
        p.add_argument("--params-json", default="{}", help="parameters recorded in the artifact's index entry")


def run(args: argparse.Namespace):
    import pandas as pd
    artifact = ARTIFACTS[args.artifact]
    kwargs = {dest: getattr(args, dest) for _, options in artifact.options for dest in [options["dest"]]}
    result = artifact.load()(**kwargs, params=json.loads(args.params_json))
    print(result.to_string() if isinstance(result, pd.DataFrame) else json.dumps(result, indent=2))
    return result


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", required=True, help="results/index.json (linked from the report)")
    parser.add_argument("--out", required=True, help="results/report.md")
    parser.add_argument("meta", nargs="+", metavar="META_JSON", help="the artifacts' meta.json files")


def run_report(args: argparse.Namespace) -> str:
    from greedy.render.reporting import report
    text = report(args.meta, args.index, args.out)
    print(text)
    return text


def add_index_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="results/index.json")
    parser.add_argument("meta", nargs="+", metavar="META_JSON", help="the artifacts' meta.json files")


def run_index(args: argparse.Namespace) -> dict:
    from greedy.render.reporting import index
    return index(args.meta, args.out)
