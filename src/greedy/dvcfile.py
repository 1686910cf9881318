"""`greedy dvc-yaml`: write dvc.yaml from params.yaml's data sets and studies and the artifact
registry (greedy.render.registry), so that the DVC stages are derived, never restated by hand.

One stage per study of each data set (a Snakemake call for the study's artifacts), the data stage,
the stages across data sets (figlr, Table 1, its CMNIST metric, the index and report), and the
top-level metrics and plots. Each stage's code dependencies are computed: the modules the commands
it runs import (followed through src/greedy, a package as its folder), not a copied list.
tests/test_dvcfile.py fails when the committed dvc.yaml differs from what this writes.
"""
from __future__ import annotations

import argparse
import ast
from dataclasses import dataclass
from pathlib import Path

from greedy.config import load_params
from greedy.render.registry import ARTIFACTS, artifacts_of

PACKAGE = Path(__file__).resolve().parent
SRC = "src/greedy"


# --- code dependencies -------------------------------------------------------------------------

def _module_path(name: str) -> Path | None:
    """greedy.x.y -> its file (or package __init__.py) under src/greedy, None outside the package."""
    parts = name.split(".")
    if parts[0] != "greedy":
        return None
    base = PACKAGE.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _imports(path: Path, lazy: bool, named: bool = False) -> set[str]:
    """The greedy modules `path` imports when it is imported, with `lazy` also those its functions
    import when they run, and with `named` those it names for importlib ("greedy.i3d" in models.py)."""
    found, todo = set(), list(ast.parse(path.read_text()).body)
    while todo:
        node = todo.pop()
        if not lazy and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}  # `from greedy import io`
        elif named and isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value)
        todo += list(ast.iter_child_nodes(node))
    return {name for name in found if name.startswith("greedy")}


def _dep(path: Path) -> str:
    """A module as a DVC dependency: a file of src/greedy, or the folder of its sub-package."""
    relative = path.relative_to(PACKAGE)
    return f"{SRC}/{relative.parts[0]}" if len(relative.parts) > 1 else f"{SRC}/{relative.as_posix()}"


def code_deps(*modules: str, lazy: bool = True) -> list[str]:
    """The code a command running `modules` executes: the import closure within src/greedy (`lazy`:
    through imports inside functions too), each sub-package (data, render) as its folder with every
    module in it followed. Sorted, files first."""
    entries = {p for p in map(_module_path, modules) if p}
    seen, todo = set(), list(entries)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        if path.parent != PACKAGE:  # a sub-package: all of it, its packages too (data/nvgesture/)
            folder = PACKAGE / path.relative_to(PACKAGE).parts[0]
            todo += [p for p in folder.rglob("*.py") if p not in seen]
        # an entry's importlib names are its dispatch table (the cli names every command, tools too)
        named = lazy and path not in entries
        todo += [p for p in map(_module_path, _imports(path, lazy, named)) if p and p not in seen]
    deps = {_dep(p) for p in seen} - {f"{SRC}/__init__.py"}
    return sorted(deps, key=lambda d: (not d.endswith(".py"), d))


# The commands each kind of stage runs (src/greedy/cli.py: prepare, train, utilization, collect,
# render, report, index); the cli itself is a dependency of every stage. A study's stage trains and
# renders (any code path: imports inside functions followed); the stages across data sets only
# render and index (the modules render imports; the ablation's stop_epoch reaches the trainer only
# in the cmnist_ablation stage, which trains).
DATA_CODE = ("greedy.cli",)
STUDY_CODE = ("greedy.cli", "greedy.train", "greedy.utilization", "greedy.studies", "greedy.render")
RENDER_CODE = ("greedy.render",)


# --- what each study's stage holds --------------------------------------------------------------

@dataclass(frozen=True)
class Study:
    methods: bool = True              # trains several methods: methods.<dataset> is a parameter
    procedure: bool = True            # procedure.<dataset> (the ablation sets its own switches)
    modalities: bool = True           # studies.<dataset>.modalities (three views have their own)
    after: tuple = ()                 # studies whose CSV it needs first (a dependency)
    after_params: bool = True         # ... whose parameters are its own too (the method sweep's lrs)
    runs: tuple = ()                  # its run folders under results/runs/<dataset>/ (default: its name)
    files: tuple = ()                 # its files under results/<dataset>/ (default: <study>.csv)
    targets_files: bool = False       # Snakemake's targets are its CSVs (Table 1 is rendered across data sets)


STUDIES = {
    "unimodal": Study(methods=False),
    "sweep": Study(methods=False, files=("sweep.csv", "sweep_lrs.csv")),
    "method_sweep": Study(after=("sweep",)),
    "l1": Study(methods=False),
    "table1": Study(targets_files=True),
    "sensitivity": Study(after=("sweep",), after_params=False, runs=("sensitivity_q", "sensitivity_alpha"),
                         files=("sensitivity_q.csv", "sensitivity_alpha.csv", "expected_d_util.json")),
    "views": Study(modalities=False),
    "ablation": Study(procedure=False),
}
# A study that adds to another's stage: NVGesture-pretrained is a second Table 1 column (its runs may
# be none: the smoke run has no Kinetics weights, and DVC needs the folder to exist).
JOINS = {"table1_pretrained": "table1"}
COMMENTS = {
    "ablation": "The official-code switches one at a time (README \"The paper's text and the official code\").",
    "table1_pretrained": "NVGesture-scratch and -pretrained; the pretrained study may have no runs (the smoke "
                         "run has no\n  # Kinetics weights), and DVC needs its runs folder to exist",
    "figlr": "d_util against the learning rate, one panel per data set with a sweep in the paper's figure",
    "table1_metrics": "Table 1's CMNIST column as a DVC metric (json): `dvc metrics show` / `dvc metrics diff`.",
}

# The figures' data for `dvc plots`: artifact -> (plot name, template, x, {file under results/<dataset>/: y}).
DATA_PLOTS = {
    "fig7": ("d_util_by_lr", "scatter", "lr", {"sweep.csv": "d_util"}),
    "methods_cmnist": ("d_util_by_lr_and_method", "scatter", "lr", {"sweep.csv": "d_util", "method_sweep.csv": "d_util"}),
    "fig2a": ("d_util_by_lr", "scatter", "lr", {"sweep.csv": "d_util"}),
    "fig2b": ("d_util_by_lr", "scatter", "lr", {"sweep.csv": "d_util"}),
    "fig3": ("R_by_l1", "scatter", "l1", {"l1.csv": "R"}),
}
TABLE1_PLOT = ("table1_test_acc_by_method", "bar_horizontal", "test_acc", "cmnist", {"table1.csv": "method"})
MEASURED_METRICS = ["measured/cmnist/ablation_metrics.json"]  # `greedy measured`: kept in git

HEADER = """\
# GENERATED by `greedy dvc-yaml` (src/greedy/dvcfile.py) from params.yaml and the artifact registry
# (src/greedy/render/registry.py): do not edit by hand; run `greedy dvc-yaml` after changing them
# (tests/test_dvcfile.py checks that this file is current).
#
# Coarse DVC stages, one Snakemake call per study (README, "DVC").
# params.yaml is the single source of truth: `dvc repro` re-runs exactly the stages whose
# parameters, code or inputs changed, and `dvc exp run -S key=value` runs an experiment.
# Run folders carry a hash of their configuration and are `persist`ed, so Snakemake (not DVC)
# decides which models still need training, and a changed parameter can never be mistaken for an
# up-to-date result. Every output is cached, so `dvc push` / `dvc pull` move runs, checkpoints,
# tables, figures and metrics between clones.
#
# Smoke scale: `dvc exp run -S dvc.overlay=config/smoke.yaml` (or set `dvc.overlay` in
# params.yaml and `dvc repro`). Each stage passes `--configfile ${dvc.overlay}` to Snakemake;
# the default, params.yaml itself, overlays nothing. The overlays live in config/ (a dependency).
#
# Snakemake is called with output files as targets (targets go before --configfile), so that
# renaming a rule does not break a stage; only the data stage names its rule (prepared_data: the
# folders carry a hash of the data parameters). Data sets: `datasets` in params.yaml; a data set
# whose raw files are missing stops the data stage with what to fetch and where to put it.
"""
SNAKEMAKE = "--cores all --configfile ${dvc.overlay}"
WORKFLOW = ["config", "workflow/rules"]


# --- the stages ----------------------------------------------------------------------------------

def _list(key: str, items, indent: str = "    ") -> list[str]:
    lines = [f"{indent}{key}:"]
    for item in items:
        if isinstance(item, tuple):  # (path, {option: value})
            lines += [f"{indent}  - {item[0]}:"] + [f"{indent}      {k}: {str(v).lower()}" for k, v in item[1].items()]
        else:
            lines.append(f"{indent}  - {item}")
    return lines


def _stage(name: str, cmd, deps, params=(), outs=(), metrics=(), comment: str | None = None) -> list[str]:
    lines = [f"  # {comment}"] if comment else []
    lines.append(f"  {name}:")
    if isinstance(cmd, str):
        lines.append(f"    cmd: {cmd}")
    else:
        lines += ["    cmd: >-"] + [f"      {line}" for line in cmd]
    for key, items in (("deps", deps), ("params", params), ("outs", outs), ("metrics", metrics)):
        if items:
            lines += _list(key, items)
    return lines + [""]


def _study_stages(params: dict, dataset: str) -> list[list[str]]:
    made = [(a, d or a.datasets[0]) for a, d in artifacts_of(params["datasets"], params["studies"])
            if not a.any_dataset]
    studies = params["studies"][dataset]
    joined = {}
    for study in studies:
        if study in JOINS:
            joined.setdefault(JOINS[study], []).append(study)
    stages, persist = [], {"persist": True}
    # One configuration, one training (studies: "same_as"): a run of an earlier study with the
    # same configuration is copied, so a stage depends on the earlier multi-modal studies' runs.
    # Which runs coincide depends on the overlay (the smoke run's ablation repeats Table 1's), so
    # every earlier one is a dependency: DVC runs them first, and Snakemake copies what it needs.
    earlier_runs: list[str] = []
    for study in studies:
        if study not in STUDIES:  # modalities, or a study joined to another's stage
            continue
        spec, names = STUDIES[study], [study, *joined.get(study, [])]
        runs = [r for n in names for r in (STUDIES[n].runs if n in STUDIES else ()) or (n,)]
        files = [f for n in names for f in (STUDIES[n].files if n in STUDIES else ()) or (f"{n}.csv",)]
        artifacts = [a for a, d in made if d == dataset and a.studies and a.studies[-1] == study]
        targets = [f"results/{dataset}/{f}" for f in files] if spec.targets_files else []
        targets += [f"results/{a.path(a.target, dataset)}" for a in artifacts]
        targets += [f"results/{a.path('metrics', dataset)}" for a in artifacts if "metrics" in a.outputs]
        cmd = [f"snakemake {targets[0]}", *targets[1:], SNAKEMAKE]
        if joined.get(study):
            cmd = [f"mkdir -p {' '.join(f'results/runs/{dataset}/{r}' for r in runs[1:])} &&", *cmd]
        deps = [f"data/{dataset}", *code_deps(*STUDY_CODE), *WORKFLOW,
                *[f"results/{dataset}/{a}.csv" for a in spec.after], *earlier_runs]
        if study != "unimodal":  # one branch: never the configuration of a multi-modal run
            earlier_runs += [f"results/runs/{dataset}/{r}" for r in runs]
        stage_params = ["dvc.overlay", "seed", "device", f"models.{dataset}", f"training.{dataset}"]
        stage_params += [f"procedure.{dataset}"] if spec.procedure else []
        stage_params += [f"methods.{dataset}"] if spec.methods else []
        stage_params += ["weights"] if any(n in JOINS for n in names) else []
        stage_params += [f"studies.{dataset}.modalities"] if spec.modalities else []
        stage_params += [f"studies.{dataset}.{s}" for s in (*(spec.after if spec.after_params else ()), *names)]
        outs = [(f"results/runs/{dataset}/{r}", persist) for r in runs] + [f"results/{dataset}/{f}" for f in files]
        outs += [f"results/{a.path(dest, dataset)}" for a in artifacts for dest in a.outputs if dest != "metrics"]
        metrics = [f"results/{a.path('metrics', dataset)}" for a in artifacts if "metrics" in a.outputs]
        comment = next((COMMENTS[n] for n in reversed(names) if n in COMMENTS), None)
        stages.append(_stage(f"{dataset}_{study}", cmd, deps, stage_params, outs, metrics, comment))
    return stages


def dvc_yaml(params: dict) -> str:
    """dvc.yaml for these parameters (params.yaml: datasets, studies)."""
    datasets, studies = params["datasets"], params["studies"]
    made = artifacts_of(datasets, studies)
    render_code = ["src/greedy/cli.py", *code_deps(*RENDER_CODE, lazy=False), "workflow/rules"]
    lines = [HEADER, "stages:"]
    lines += _stage("data", "snakemake prepared_data " + SNAKEMAKE, [*code_deps(*DATA_CODE, lazy=False), *WORKFLOW],
                    ["dvc.overlay", "datasets", "data", "studies.modelnet40.views"],
                    [(f"data/{d}", {"persist": True}) for d in datasets])
    for dataset in datasets:
        for stage in _study_stages(params, dataset):
            lines += stage
    figlr = ARTIFACTS["figlr"]
    if any(a.id == "figlr" for a, _ in made):
        lines += _stage("figlr", f"snakemake results/{figlr.path('out_png')} {SNAKEMAKE}",
                        [*render_code, *[f"results/{d}/sweep.csv" for d in figlr.datasets if d in datasets]],
                        ["dvc.overlay", "datasets"], [f"results/{figlr.path(dest)}" for dest in figlr.outputs],
                        comment=COMMENTS["figlr"])
    table1 = ARTIFACTS["table1"]
    columns = [f"results/{d}/{s}.csv" for d in datasets for s in ("unimodal", "table1", *studies[d])
               if s in ("unimodal", "table1") or JOINS.get(s) == "table1"]
    columns = list(dict.fromkeys(columns))
    lines += _stage("table1", f"snakemake results/{table1.path('csv')} {SNAKEMAKE}", [*render_code, *columns],
                    ["dvc.overlay", "datasets"], [f"results/{table1.path(dest)}" for dest in table1.outputs])
    lines += _stage("table1_metrics", [
        "python -c \"import json, math, pandas as pd;",
        "t = pd.read_csv('results/tables/table1.csv');",
        "t = t[(t.dataset == 'cmnist') & (t.status == 'reproduced')];",
        "num = lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), 4);",
        "keys = ('ours_mean', 'ours_std', 'paper_mean', 'paper_std', 'runs');",
        "json.dump({r['method']: {k: num(r[k]) for k in keys} for _, r in t.iterrows()},",
        "open('results/metrics/table1.json', 'w'), indent=2)\""],
        [f"results/{table1.path('csv')}"], metrics=["results/metrics/table1.json"], comment=COMMENTS["table1_metrics"])
    lines += _stage("results_index", f"snakemake results/index.json results/report.md {SNAKEMAKE}",
                    [*render_code, *[f"results/{a.path('meta', d)}" for a, d in made]], ["dvc.overlay"],
                    ["results/index.json", "results/report.md"])
    lines[-1:] = []
    lines += ["", "# Measured real-data runs kept in git (greedy measured; README): the ablation's numbers.",
              *_list("metrics", MEASURED_METRICS, indent="")]
    lines += ["", "# The figures' data (`dvc plots show` renders them to dvc_plots/index.html; `dvc plots diff`",
              "# compares revisions or experiments) and the rendered figures themselves.", "plots:"]
    for artifact, dataset in made:
        plot = DATA_PLOTS.get(artifact.id)
        if plot:
            name, template, x, ys = plot
            dataset = dataset or artifact.datasets[0]
        elif artifact.id == "table1" and TABLE1_PLOT[3] in datasets:
            name, template, x, dataset, ys = TABLE1_PLOT
            name = name.removeprefix("table1_")
        else:
            continue
        lines += [f"  - {artifact.id}_{name}:", f"      template: {template}", f"      x: {x}", "      y:",
                  *[f"        results/{dataset}/{file}: {y}" for file, y in ys.items()]]
    lines += [f"  - results/{a.path('out_png', d)}" for a, d in made if "out_png" in a.outputs]
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", nargs="+", default=["params.yaml"], metavar="FILE",
                        help="params.yaml (its data sets and studies decide the stages; default: params.yaml)")
    parser.add_argument("--out", default="dvc.yaml", help="the file to write (default: dvc.yaml); - prints it")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if --out is not current")


def run(args: argparse.Namespace) -> None:
    text = dvc_yaml(load_params(args.params))
    if args.out == "-":
        print(text, end="")
    elif args.check:
        if not Path(args.out).exists() or Path(args.out).read_text() != text:
            raise SystemExit(f"greedy dvc-yaml: {args.out} is not current; run `greedy dvc-yaml`")
    else:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}")
