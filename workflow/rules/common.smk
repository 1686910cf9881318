# Shared definitions: every run of every study, enumerated from params.yaml by src/greedy.
import json
import os

from greedy.config import cmnist_data_dir, short_hash
from greedy.studies import cmnist_runs, sweep_learning_rates

RESULTS = config["results_dir"]
ENV = "../envs/greedy.yaml"
RUNS = cmnist_runs(config)
CMNIST_DATA = str(cmnist_data_dir(config))


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
