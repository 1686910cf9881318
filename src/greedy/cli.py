"""`greedy`: the one command line of the pipeline. It only parses and dispatches; each
subcommand's logic lives in its module (an `add_arguments(parser)` / `run(args)` pair).

    greedy prepare     --dataset cmnist --params params.yaml [overlay.yaml ...]   a data set
    greedy prepare     --dataset modelnet40 [--download | --fixture DIR]
    greedy train       --params ... --modalities mono gray --lr 0.01 --seed 0 --run-dir DIR
    greedy utilization --run-dir DIR [DIR ...]                    d_util, d_speed, R(f)
    greedy collect     --out study.csv RUN/utilization.json ...  one CSV per study
    greedy render      ARTIFACT ...                               a table or figure
    greedy report      --index results/index.json --out results/report.md META ...
    greedy index       --out results/index.json META ...
    greedy benchmark   --params ...                               trainer vs bare loop
    greedy diagnose    RUN ...                                    how each branch votes

Every command that reads parameters takes `--params FILE ...` (params.yaml and overlays, later
files win); every command that works on one trained run takes `--run-dir`. Snakemake runs the
same commands (workflow/rules/*.smk).
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Callable

from greedy import benchmark, diagnose, render, studies, train, utilization
from greedy.config import ParamsError, load_params
from greedy.data import DATASETS, DataMissing, data_dir, dataset_module


def _prepare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="cmnist", choices=list(DATASETS))
    parser.add_argument("--params", nargs="+", default=["params.yaml"], metavar="FILE",
                        help="params.yaml and overlays, later files win (default: params.yaml)")
    parser.add_argument("--params-json", help="the merged parameters as JSON (as Snakemake passes them); "
                        "replaces --params")
    parser.add_argument("--out", help="the prepared folder (default: data.<dataset>.out_dir/<hash of the "
                        "data's identity>); a study's own variant (three views) is chosen by its folder")
    parser.add_argument("--download", action="store_true",
                        help="download the raw data when it is missing (where the data set allows it)")
    parser.add_argument("--fixture", metavar="DIR", help="write the data set's small test fixture to DIR "
                        "(the real on-disk format) instead of preparing")


def _prepare(args: argparse.Namespace) -> None:
    # src/greedy/data/<dataset>.py holds the logic; this is its command line.
    module = dataset_module(args.dataset)
    if args.fixture:
        print(json.dumps({"fixture": str(module.make_fixture(args.fixture))}))
        return
    params = json.loads(args.params_json) if args.params_json else load_params(args.params)
    variants = studies.data_variants(params, args.dataset)
    out = args.out or str(data_dir(params, args.dataset))
    if out not in variants:
        sys.exit(f"greedy prepare: {out} is not a prepared-data folder of these parameters; "
                 f"they make {sorted(variants)}")
    try:
        manifest = module.prepare_data(variants[out], out, download=args.download)
    except DataMissing as error:
        sys.exit(f"greedy prepare: {error}")  # what to download and where to put it
    print(json.dumps({"out": out, "counts": manifest.get("totals", manifest.get("counts"))}))


# subcommand -> (one-line help, add_arguments, run)
COMMANDS: dict[str, tuple[str, Callable, Callable]] = {
    "prepare": ("prepare a data set of the registry (greedy/data): CMNIST, ModelNet40 views, or write its fixture",
                _prepare_arguments, _prepare),
    "train": ("train one model (resumes from its last checkpoint)", train.add_arguments, train.run),
    "utilization": ("d_util, d_speed at the best-validation step and R(f) of trained runs",
                    utilization.add_arguments, utilization.run),
    "collect": ("gather utilization JSONs into one study CSV (or write the sweep's learning rates)",
                studies.add_arguments, studies.run),
    "render": ("render one table or figure (an artifact of the registry)", render.add_arguments, render.run),
    "report": ("results/report.md: every paper artifact, ours beside the paper's",
               render.add_report_arguments, render.run_report),
    "index": ("results/index.json: every rendered artifact and what made it",
              render.add_index_arguments, render.run_index),
    "benchmark": ("trainer vs a bare training loop, and the cost of the measurements",
                  benchmark.add_arguments, benchmark.run),
    "diagnose": ("how each branch votes in trained models' fused predictions",
                 diagnose.add_arguments, diagnose.run),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="greedy", description="Reproduction pipeline for Wu et al. (ICML 2022), 'Characterizing and "
        "Overcoming the Greedy Nature of Learning in Multi-modal Deep Neural Networks'.",
        epilog="`greedy COMMAND --help` describes each command. The whole DAG: `snakemake --cores all`.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_arguments, run) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(command)
        command.set_defaults(run=run)
    return parser


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except ParamsError as error:  # a bad parameter file: its message names the file and the key
        sys.exit(f"greedy {args.command}: {error}")


if __name__ == "__main__":
    main()
