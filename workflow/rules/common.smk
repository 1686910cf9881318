# Shared definitions: every run of every study, enumerated from params.yaml by src/greedy.
import json
import os

from greedy.config import cmnist_data_dir, data_code_files, training_code_files
from greedy.studies import cmnist_runs, sweep_learning_rates

RESULTS = config["results_dir"]
ENV = "../envs/greedy.yaml"
RUNS = cmnist_runs(config)
CMNIST_DATA = str(cmnist_data_dir(config))

# Values the jobs read but that must not make Snakemake rerun them when they change (device,
# paths, evaluation batch size): the jobs get the merged parameters from the environment, which
# Snakemake does not track, instead of `params`, which it does. What changes results is in the
# run id (the output path) and in the code files listed as inputs below.
os.environ.update(GREEDY_PARAMS_JSON=json.dumps(config, sort_keys=True),
                  GREEDY_DATA_JSON=json.dumps(config["data"]["cmnist"], sort_keys=True))


envvars:
    "GREEDY_PARAMS_JSON",
    "GREEDY_DATA_JSON",


# Source files as inputs: editing one reruns the jobs that depend on it (Snakemake's mtime and
# input triggers). The trainer then retrains when the training code really changed (its
# fingerprint ignores comments and docstrings) and otherwise finishes from last.pt at once.
SRC = os.path.relpath(os.path.join(workflow.basedir, "src", "greedy"))
TRAINING_CODE = [os.path.relpath(p) for p in training_code_files(SRC, "cmnist")]
DATA_CODE = [os.path.relpath(p) for p in data_code_files("cmnist", SRC)]
UTILIZATION_CODE = [os.path.join(SRC, f) for f in ("utilization.py", "evaluation.py")]
COLLECT_CODE = [os.path.join(SRC, "studies.py")]
RENDER_CODE = [os.path.join(SRC, f) for f in ("render.py", "paper.py")]


def runs_of(study, pairing=None):
    return [rid for rid, run in RUNS.items() if run["study"] == study
            and (pairing is None or run["config"]["modalities"] == list(pairing))]


def run_files(study, name, pairing=None):
    return [f"{RESULTS}/runs/cmnist/{rid}/{name}" for rid in runs_of(study, pairing)]


def first_table1_run(method):
    """status.json of the Table 1 run of `method` with the base seed."""
    rid = next(r for r in runs_of("table1") if RUNS[r]["config"]["method"] == method
               and RUNS[r]["config"]["seed"] == config["seed"])
    return f"{RESULTS}/runs/cmnist/{rid}/status.json"


def params_json(*sections):
    """The parameter sections an artifact depends on, as JSON for its index entry."""
    out = {}
    for section in sections:
        node = config
        for key in section.split("."):
            node = node[key]
        out[section] = node
    return json.dumps(out, sort_keys=True)


# Resources every training job declares, so a cluster profile can map them.
TRAIN_RESOURCES = dict(mem_mb=4000, runtime=240, gpu=0)
