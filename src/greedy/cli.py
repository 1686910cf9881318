"""`greedy`: the one command line of the pipeline. It only parses and dispatches; each
subcommand's logic lives in its module (an `add_arguments(parser)` / `run(args)` pair).

    greedy prepare     --dataset cmnist --params params.yaml [overlay.yaml ...]   a data set
    greedy prepare     --dataset modelnet40 [--download | --fixture DIR]
    greedy weights     kinetics_rgb                               pre-trained weights
    greedy train       --params ... --modalities mono gray --lr 0.01 --seed 0 --run-dir DIR
    greedy utilization --run-dir DIR [DIR ...]                    d_util, d_speed, R(f)
    greedy collect     --out study.csv RUN/utilization.json ...  one CSV per study
    greedy sweep-lrs   --dataset cmnist --params ... --out lrs.csv   the sweep's learning rates
    greedy expected-d-util STUDY.csv --pairing front+rear --out e.json   E[d_util] of a pairing
    greedy render      ARTIFACT ...                               a table or figure
    greedy report      --index results/index.json --out results/report.md META ...
    greedy index       --out results/index.json META ...
    greedy benchmark   --params ...                               trainer vs bare loop
    greedy cost        --dataset modelnet40 --params ...          throughput, projected hours
    greedy diagnose    RUN ...                                    how each branch votes
    greedy measured    --study ablation                           keep finished runs in measured/
    greedy dvc-yaml    [--check]                                  dvc.yaml, derived (dvcfile.py)

Every command that reads parameters takes `--params FILE ...` (params.yaml and overlays, later
files win); every command that works on one trained run takes `--run-dir`. Snakemake runs the
same commands (workflow/rules/*.smk).
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from greedy import studies
from greedy.config import ParamsError, load_params, run_config
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


def _weights_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="a name under weights: in params.yaml (e.g. kinetics_rgb)")
    parser.add_argument("--params", nargs="+", default=["params.yaml"], metavar="FILE")
    parser.add_argument("--params-json", help="the merged parameters as JSON (replaces --params)")


def _weights(args: argparse.Namespace) -> None:
    params = json.loads(args.params_json) if args.params_json else load_params(args.params)
    if args.name not in params["weights"]:
        sys.exit(f"greedy weights: {args.name!r} is not under weights: in params.yaml ({sorted(params['weights'])})")
    entry = params["weights"][args.name]
    from greedy.download import download_verified  # url to path, atomically, sha256-checked
    try:
        path = download_verified(entry["url"], entry["path"], entry["sha256"], what=f"the weights {args.name}")
    except (RuntimeError, ValueError) as error:
        sys.exit(f"greedy weights: {error}")  # what to fetch and where to put it
    print(json.dumps({"weights": args.name, "path": str(path)}))


def _train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", nargs="+", default=["params.yaml"], metavar="FILE",
                        help="params.yaml and overlays, later files win (default: params.yaml)")
    parser.add_argument("--dataset", default="cmnist", help="a registered data set (greedy/data/__init__.py)")
    parser.add_argument("--modalities", nargs="+", help="one (uni-modal) or more")
    parser.add_argument("--lr", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--method", default="vanilla")
    parser.add_argument("--l1", type=float, default=None)
    parser.add_argument("--params-json", help="the merged parameters as JSON; replaces --params")
    parser.add_argument("--run-id", help="a run of the studies (as Snakemake passes it, e.g. "
                        "table1/mono-gray/guided-lr0.01_seed0_<hash>); replaces --modalities/--lr/--seed/--method/--l1")
    parser.add_argument("--measured", metavar="JSON", help="with --run-id of a study that depends on a "
                        "measured value (the α sensitivity): the JSON with that value (E_d_util)")
    parser.add_argument("--run-config", help="the run's whole configuration as JSON; replaces all of the above")
    parser.add_argument("--run-dir", required=True, help="the run folder (resumed from last.pt if there)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="a tqdm bar per epoch (default: when stderr is a terminal)")


def _run(args: argparse.Namespace) -> dict:
    """The run: {"config": ...}, given whole, a study's run by its id (with "same_as" when an
    earlier study has a run of the same configuration), or built from the flags."""
    if args.run_config:
        return {"config": json.loads(args.run_config)}
    params = json.loads(args.params_json) if args.params_json else load_params(args.params)
    if args.run_id:
        measured = json.loads(Path(args.measured).read_text()) if args.measured else None
        runs = studies.study_runs(params, args.dataset, measured)
        if args.run_id not in runs:
            sys.exit(f"greedy train: no run {args.run_id!r} in these parameters' {args.dataset} studies")
        return runs[args.run_id]
    if args.modalities is None or args.lr is None or args.seed is None:
        sys.exit("greedy train: --modalities, --lr and --seed are required without --run-id or --run-config")
    return {"config": run_config(params, args.dataset, args.modalities, args.lr, args.seed, args.method, args.l1)}


def _train(args: argparse.Namespace) -> dict:
    import torch
    from greedy.train import train
    if args.threads:
        torch.set_num_threads(args.threads)
    run = _run(args)
    if run.get("same_as"):  # run folders are <dataset folder>/<run id>: the same run is beside it
        from greedy.train import copy_finished_run
        dataset_dir = Path(args.run_dir).parents[len(Path(args.run_id).parts) - 1]
        summary = copy_finished_run(dataset_dir / run["same_as"], args.run_dir, run["config"])
    else:
        progress = sys.stderr.isatty() if args.progress is None else args.progress
        summary = train(run["config"], args.run_dir, progress=progress)
    print(json.dumps({k: summary[k] for k in ("status", "epochs_run", "stopped_by", "best_epoch", "test_acc")}))
    return summary


# subcommand -> (one-line help, module, its add_arguments, its run). A module is imported only
# for the command that runs (a training job does not load matplotlib, a render job not torch).
COMMANDS: dict[str, tuple[str, str, str, str]] = {
    "prepare": ("prepare a data set of the registry (greedy/data): CMNIST, ModelNet40 views, or write its fixture",
                "greedy.cli", "_prepare_arguments", "_prepare"),
    "weights": ("download pre-trained weights named in params.yaml (sha256-checked)",
                "greedy.cli", "_weights_arguments", "_weights"),
    "train": ("train one model (resumes from its last checkpoint)", "greedy.cli", "_train_arguments", "_train"),
    "utilization": ("d_util, d_speed at the best-validation step and R(f) of trained runs",
                    "greedy.utilization", "add_arguments", "run"),
    "collect": ("gather a study's utilization JSONs into one study CSV", "greedy.studies", "add_arguments", "run"),
    "sweep-lrs": ("the learning-rate sweep's learning rates as a CSV", "greedy.studies",
                  "add_sweep_lrs_arguments", "run_sweep_lrs"),
    "expected-d-util": ("E[d_util] of one pairing's models in a study CSV (the α sensitivity is defined by it)",
                        "greedy.studies", "add_expected_d_util_arguments", "run_expected_d_util"),
    "render": ("render one table or figure (an artifact of the registry)", "greedy.render", "add_arguments", "run"),
    "report": ("results/report.md: every paper artifact, ours beside the paper's",
               "greedy.render", "add_report_arguments", "run_report"),
    "index": ("results/index.json: every rendered artifact and what made it",
              "greedy.render", "add_index_arguments", "run_index"),
    "benchmark": ("trainer vs a bare training loop, and the cost of the measurements",
                  "greedy.benchmark", "add_arguments", "run"),
    "cost": ("loader and model throughput, and the projected hours of a data set's studies at paper scale",
             "greedy.cost", "add_arguments", "run"),
    "measured": ("keep finished runs' small outputs in git (measured/<dataset>/), with the study's CSV",
                 "greedy.measured", "add_arguments", "run"),
    "diagnose": ("how each branch votes in trained models' fused predictions",
                 "greedy.diagnose", "add_arguments", "run"),
    "dvc-yaml": ("write dvc.yaml from params.yaml and the artifact registry (--check: is it current?)",
                 "greedy.dvcfile", "add_arguments", "run"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or, with `only`, every command listed and `only`'s arguments."""
    parser = argparse.ArgumentParser(
        prog="greedy", description="Reproduction pipeline for Wu et al. (ICML 2022), 'Characterizing and "
        "Overcoming the Greedy Nature of Learning in Multi-modal Deep Neural Networks'.",
        epilog="`greedy COMMAND --help` describes each command; `--debug` shows a traceback instead of a "
        "one-line error. The whole DAG: `snakemake --cores all`.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, module_name, add_arguments, run) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        if only in (None, name):
            module = importlib.import_module(module_name)
            getattr(module, add_arguments)(command)
            command.set_defaults(run=getattr(module, run))
    return parser


# Errors about the user's data or parameters: their messages name the file, key or value and what
# to do, so they are printed as one line (the traceback with --debug). Anything else is a bug and
# keeps its traceback.
USER_ERRORS = (ParamsError, DataMissing, FileExistsError, FileNotFoundError, ValueError, RuntimeError)


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    args = build_parser(argv[0] if argv and argv[0] in COMMANDS else None).parse_args(argv)
    try:
        args.run(args)
    except USER_ERRORS as error:
        if debug:
            raise
        message = " ".join(str(error).split()) or type(error).__name__
        sys.exit(f"greedy {args.command}: {message} (--debug shows the traceback)")


if __name__ == "__main__":
    main()
