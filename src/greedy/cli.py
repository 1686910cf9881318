"""`greedy`: the one command line of the pipeline. It only parses and dispatches; each
subcommand's logic lives in its module (an `add_arguments(parser)` / `run(args)` pair).

    greedy prepare     --params params.yaml [overlay.yaml ...]   Colored-and-gray-MNIST
    greedy prepare     --dataset modelnet40 [--download]          ModelNet40 views
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
from greedy.config import ParamsError, cmnist_data_dir, load_params
from greedy.data import cmnist, modelnet40


def _prepare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="cmnist", choices=["cmnist", "modelnet40"])
    parser.add_argument("--params", nargs="+", default=["params.yaml"], metavar="FILE",
                        help="params.yaml and overlays, later files win (default: params.yaml)")
    parser.add_argument("--data-json", help="the data.<dataset> section as JSON (as Snakemake passes it); "
                        "replaces --params")
    parser.add_argument("--out", help="output folder (default: data.<dataset>.out_dir; for cmnist "
                        "out_dir/<hash of the data's identity>)")
    parser.add_argument("--download", action="store_true",
                        help="modelnet40: download the archive when neither it nor the tree is there")
    parser.add_argument("--fixture", metavar="DIR", help="modelnet40: write a small tree in the MVCNN "
                        "layout to DIR (for tests and the smoke run) instead of preparing")


def _prepare(args: argparse.Namespace) -> None:
    # src/greedy/data/<dataset>.py holds the logic; this is its command line.
    if args.fixture:
        if args.dataset != "modelnet40":
            sys.exit("greedy prepare: --fixture is for --dataset modelnet40 (CMNIST ships a real MNIST subset)")
        modelnet40.make_fixture(args.fixture)
        print(json.dumps({"fixture": args.fixture}))
        return
    if args.data_json:
        data = json.loads(args.data_json)
    else:
        data = load_params(args.params)["data"][args.dataset]
    if args.dataset == "modelnet40":
        try:
            root = modelnet40.fetch(data["root"], data["archive"], data["url"], data["sha256"], args.download)
            manifest = modelnet40.prepare(root, args.out or data["out_dir"], data["views"],
                                          data["validation_fraction"], data["seed"], data["size"])
        except modelnet40.ModelNet40Error as error:
            sys.exit(f"greedy prepare: {error}")  # what to download and where to put it
        print(json.dumps({"out": args.out or data["out_dir"], "totals": manifest["totals"]}))
        return
    out = args.out or cmnist_data_dir({"data": {"cmnist": data}})
    data = {k: v for k, v in data.items() if k != "out_dir"}
    manifest = cmnist.build(data.pop("mnist_root"), out, **data)
    print(json.dumps({"out": str(out), "counts": manifest["counts"]}))


# subcommand -> (one-line help, add_arguments, run)
COMMANDS: dict[str, tuple[str, Callable, Callable]] = {
    "prepare": ("build a data set: Colored-and-gray-MNIST from MNIST, ModelNet40 views from the MVCNN renders",
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
