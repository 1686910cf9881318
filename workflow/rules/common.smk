# Shared definitions: every run of every study of every data set in config["datasets"],
# enumerated from params.yaml by src/greedy (studies.study_runs), so Snakemake, DVC and the tests
# see the same runs. The data set is a wildcard of every rule; its module in src/greedy/data
# (the registry) and its params.yaml blocks are all a new data set needs.
import glob
import json
import os
import re
import shlex

from snakemake.logging import logger

from greedy.fingerprint import data_code_files, training_code_files
from greedy.data import data_dir, missing_raw_data
from greedy.render.registry import ARTIFACTS, artifacts_of
from greedy.render.registry import meta_files as registry_meta_files
from greedy.studies import MEASURED_STUDIES, data_variants, study_runs

RESULTS = config["results_dir"]
ENV = "../envs/greedy.yaml"
DATASETS = config["datasets"]
RUNS = {dataset: study_runs(config, dataset) for dataset in DATASETS}
# prepared-data folder -> data set (a study can ask for its own variant, e.g. three views)
DATA_DIRS = {folder: dataset for dataset in DATASETS for folder in data_variants(config, dataset)}

# A data set whose raw data is not here, and that the pipeline cannot fetch (ModelNet40's
# archive, NVGesture), is left out of the DAG before anything runs, saying what to fetch, its
# size and where to put it; the others run. Its prepared folders, once there, are enough.
SKIPPED = {d: why for d in DATASETS
           if (why := missing_raw_data(config, d, [f for f, owner in DATA_DIRS.items() if owner == d]))}
if SKIPPED:
    logger.warning(
        f"Left out of this run, their data is not here: {', '.join(SKIPPED)}. The other data sets "
        f"run ({', '.join(d for d in DATASETS if d not in SKIPPED) or 'none'}).\n\n"
        + "\n\n".join(f"{d}: {why}" for d, why in SKIPPED.items())
        + "\n\nTo run without them and without this message, name the data sets: "
        "--config 'datasets=[cmnist]' (or datasets: in a --configfile, e.g. config/real-mnist.yaml).\n")
    DATASETS = [d for d in DATASETS if d not in SKIPPED]
    RUNS = {d: RUNS[d] for d in DATASETS}
    DATA_DIRS = {f: d for f, d in DATA_DIRS.items() if d in DATASETS}
    config["datasets"] = DATASETS

# Values the jobs read but that must not make Snakemake rerun them when they change (device,
# paths, evaluation batch size): the jobs get the merged parameters from the environment, which
# Snakemake does not track, instead of `params`, which it does. What changes results is in the
# run id (the output path) and in the code files listed as inputs below.
os.environ.update(GREEDY_PARAMS_JSON=json.dumps(config, sort_keys=True))


envvars:
    "GREEDY_PARAMS_JSON",


# Source files as inputs: editing one reruns the jobs that depend on it (Snakemake's mtime and
# input triggers). The trainer then retrains when the training code really changed (its
# fingerprint ignores comments and docstrings) and otherwise finishes from last.pt at once.
# Each data set's jobs depend on its own data module only.
SRC = os.path.relpath(os.path.join(workflow.basedir, "src", "greedy"))
TRAINING_CODE = {d: [os.path.relpath(p) for p in training_code_files(SRC, d)] for d in DATASETS}
DATA_CODE = {d: [os.path.relpath(p) for p in data_code_files(d, SRC)] for d in DATASETS}
UTILIZATION_CODE = [os.path.join(SRC, f) for f in ("utilization.py", "evaluation.py")]
COLLECT_CODE = [os.path.join(SRC, "studies.py")]
# every module of the render package (src/greedy/render/), the paper's numbers, the presets
RENDER_CODE = sorted(glob.glob(os.path.join(SRC, "render", "*.py"))) + [os.path.join(SRC, f) for f in
                                                                      ("paper.py", "procedure.py")]

wildcard_constraints:
    dataset="|".join(DATASETS),
    run_id="[^/]+/[^/]+/[^/]+",


def resource(name):
    """A per-data-set resource of params.yaml (resources.<dataset>.<name>) for a rule."""
    return lambda wildcards: config["resources"][wildcards.dataset][name]


def gpu_resource(name):
    """gpu_model or cpus_per_gpu of a data set (params.yaml resources) under the names of
    snakemake-executor-plugin-slurm (--gpus=<model>:<gpu>, --cpus-per-gpu): "" / 0, which the
    plugin ignores, when the data set's jobs ask for no GPU or the key is null."""
    empty = {"gpu_model": "", "cpus_per_gpu": 0}[name]

    def value(wildcards):
        spec = config["resources"][wildcards.dataset]
        return (spec.get(name) or empty) if spec["gpu"] > 0 else empty

    return value


def measured_file(dataset):
    """What the measured studies depend on: E[d_util] of the data set's sweep (checkpoint)."""
    return f"{RESULTS}/{dataset}/expected_d_util.json"


def run_manifest(wildcards):
    run = RUNS[wildcards.dataset].get(wildcards.run_id)
    folder = run["config"]["data_dir"] if run else str(data_dir(config, wildcards.dataset))
    return f"{folder}/manifest.json"


def same_run(wildcards):
    """status.json of an earlier study's run of the same configuration (studies: "same_as"):
    this run's train job copies that run, which therefore must be finished first."""
    run = RUNS[wildcards.dataset].get(wildcards.run_id)
    if run is None and wildcards.run_id.split("/")[0] in MEASURED_STUDIES:
        with open(checkpoints.expected_d_util.get(dataset=wildcards.dataset).output[0]) as f:
            run = study_runs(config, wildcards.dataset, json.load(f)).get(wildcards.run_id)
    same = (run or {}).get("same_as")
    return [f"{RESULTS}/runs/{wildcards.dataset}/{same}/status.json"] if same else []


# pre-trained weights file -> its name under weights: (the weights rule downloads it)
WEIGHTS = {entry["path"]: name for name, entry in config["weights"].items()}


def run_weights(wildcards):
    """The pre-trained weights file a run starts from (NVGesture-pretrained), if any."""
    run = RUNS[wildcards.dataset].get(wildcards.run_id)
    weights = run["config"].get("weights") if run else None
    return [weights["path"]] if weights else []


def runs_of(dataset, study, pairing=None):
    """Run ids of one study; a measured study's runs exist once its checkpoint has run."""
    if study in MEASURED_STUDIES:
        with open(checkpoints.expected_d_util.get(dataset=dataset).output[0]) as f:
            runs = study_runs(config, dataset, json.load(f))
    else:
        runs = RUNS[dataset]
    return [rid for rid, run in runs.items() if run["study"] == study
            and (pairing is None or run["config"]["modalities"] == list(pairing))]


def run_files(dataset, study, name):
    return [f"{RESULTS}/runs/{dataset}/{rid}/{name}" for rid in runs_of(dataset, study)]


def first_table1_run(dataset, method):
    """status.json of the Table 1 run of `method` with the base seed."""
    rid = next(r for r in runs_of(dataset, "table1") if RUNS[dataset][r]["config"]["method"] == method
               and RUNS[dataset][r]["config"]["seed"] == config["seed"])
    return f"{RESULTS}/runs/{dataset}/{rid}/status.json"


def pairing(dataset):
    """The data set's two modalities as a study CSV names them (front+rear)."""
    return "+".join(config["studies"][dataset]["modalities"])


def params_json(*sections):
    """The parameter sections an artifact depends on, as JSON for its index entry."""
    out = {}
    for section in sections:
        node = config
        for key in section.split("."):
            node = node[key]
        out[section] = node
    return json.dumps(out, sort_keys=True)


def dataset_params(dataset, *studies):
    """params_json of a data set's training, model, data and the named studies."""
    return params_json(*(f"studies.{dataset}.{s}" for s in studies), f"training.{dataset}",
                       f"models.{dataset}", f"data.{dataset}")


# Small jobs (collect, render): what every one of them asks for.
SMALL = dict(mem_mb=1000, runtime=10, gpu=0)


# Render: the artifacts of the registry (src/greedy/render/registry.py) that config["datasets"] and
# config["studies"] make; render.smk generates their rules, meta_files() lists their index entries.
ARTIFACTS_MADE = artifacts_of(DATASETS, config["studies"])
# Data sets whose d_util against the learning rate the paper plots (figlr).
FIGLR_DATASETS = [d for d in ARTIFACTS["figlr"].datasets if d in DATASETS]


def table1_columns():
    """Table 1's column (paper.TABLE1_DATASET_COLUMNS) -> (uni-modal CSV or None, methods' CSV).
    NVGesture gives two columns: scratch (its table1 study) and pretrained (its table1_pretrained study)."""
    columns = {}
    for d in DATASETS:
        if "table1_pretrained" in config["studies"][d]:  # with runs: 0, an empty study (not reproduced)
            columns[f"{d}_scratch"] = (f"{RESULTS}/{d}/unimodal.csv", f"{RESULTS}/{d}/table1.csv")
            columns[f"{d}_pretrained"] = (None, f"{RESULTS}/{d}/table1_pretrained.csv")
        else:
            columns[d] = (f"{RESULTS}/{d}/unimodal.csv", f"{RESULTS}/{d}/table1.csv")
    return columns


TABLE1_COLUMNS = table1_columns()


def meta_files():
    """Every artifact's meta.json for the data sets in config["datasets"] (from the registry)."""
    return [f"{RESULTS}/{path}" for path in registry_meta_files(DATASETS, config["studies"])]


def render_rule(name, made):
    """The pieces of the generated Snakemake rule `name` that makes the artifacts `made` ([(artifact, data set)]);
    one rule per rule name of the registry, with a {figure} wildcard where several artifacts share
    it (fig7/fig2a/fig2b), a {dataset} wildcard for a per-data-set artifact, else concrete paths."""
    made = [(a, d or a.datasets[0]) for a, d in made]  # an artifact made once: its data set's studies
    first, dataset = made[0]
    by_id = {a.id: (a, d) for a, d in made}
    wildcard = "dataset" if first.per_dataset else "figure" if len(by_id) > 1 else None
    if wildcard == "figure":
        pick = lambda w: by_id[w.figure]
    elif wildcard == "dataset":
        pick = lambda w: (first, w.dataset)
    else:
        pick = lambda w: made[0]

    def template(path):
        return path.format(id="{figure}" if wildcard == "figure" else first.id,
                           dataset="{dataset}" if wildcard == "dataset" else dataset)

    def output(dest):
        path = f"{RESULTS}/{template(first.outputs[dest])}"
        if dest not in first.reported:
            return path
        return report(path, caption=f"../report/{first.caption}",
                      category="Figures" if path.endswith(".png") else "Tables")

    def value(what):
        return {"pairing": lambda w: pairing(pick(w)[1]), "dataset": lambda w: pick(w)[1]}[what]

    inputs = {key: (lambda w, file=file: f"{RESULTS}/{pick(w)[1]}/{file}") for key, file in first.inputs.items()}

    def command(wildcards, input, output):
        """`greedy render <id>` and its options, filled in. (A params function, not the shell
        string: a rule defined in a loop runs its shell expression when the job runs, by which
        time the loop's variables hold the last rule's values.)"""
        artifact = pick(wildcards)[0]
        words = [artifact.id]
        for flag, option in first.options:
            dest = option["dest"]
            if dest in first.inputs:
                words += [flag, getattr(input, dest)]
            elif dest in first.outputs:
                words += [flag, getattr(output, dest)]
            elif dest in first.arguments:
                words += [flag, value(first.arguments[dest])(wildcards)]
        return " ".join(shlex.quote(str(word)) for word in words)

    meta = os.path.basename(template(first.outputs["meta"]))
    return dict(
        inputs=inputs,
        outputs={dest: output(dest) for dest in first.outputs},
        constraints={"figure": "|".join(by_id)} if wildcard == "figure" else {},
        params={"command": command},
        recorded=lambda w: dataset_params(pick(w)[1], *pick(w)[0].studies),
        log=f"logs/render/{meta[: -len('.meta.json')]}.log",
    )


def render_output(artifact_id, dest, caption=True):
    """An artifact's output under RESULTS, in Snakemake's HTML report where the registry says so."""
    artifact = ARTIFACTS[artifact_id]
    path = f"{RESULTS}/{artifact.path(dest)}"
    if not caption or dest not in artifact.reported:
        return path
    return report(path, caption=f"../report/{artifact.caption}",
                  category="Figures" if path.endswith(".png") else "Tables")


# One Snakemake run per checkout at a time. Snakemake's own lock is off (profiles/default:
# a SIGKILLed run would leave it behind and refuse the same command until --unlock); this one is
# an flock the kernel releases when the process dies, however it dies, so a second run fails fast
# while the first lives and never after. Taken when jobs are about to run (onstart: not for
# dry runs, lint or reports) and only by the main process, not by jobs a cluster runs.
WORKFLOW_LOCK = ".snakemake/greedy.lock"


onstart:
    import fcntl
    from snakemake.exceptions import WorkflowError

    if workflow.is_main_process:
        os.makedirs(os.path.dirname(WORKFLOW_LOCK), exist_ok=True)
        lock = open(WORKFLOW_LOCK, "a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise WorkflowError(
                f"Another Snakemake run is working in {os.getcwd()} ({holder}; lock {WORKFLOW_LOCK}). "
                "Wait for it to finish or stop it; two runs at once would train the same models twice. "
                "The lock goes away by itself when that process ends (no --unlock needed).")
        lock.truncate(0)
        lock.write(f"pid {os.getpid()}, started {__import__('time').strftime('%Y-%m-%d %H:%M:%S')}\n")
        lock.flush()
        workflow.globals["_greedy_lock"] = lock  # held open for the life of this process
