"""Run ids (and the trainer's config hash, and the data folder) hash what changes results, and only that."""
import copy
import json
import shutil

import pytest

from greedy import fileio
from greedy.config import deep_merge, result_identity, run_config, run_hash
from greedy.data import data_dir
from greedy.studies import study_runs
from greedy.train import train

from helpers import SUBSET_ROOT

pytestmark = pytest.mark.unit


@pytest.fixture
def base(params):
    # absolute MNIST path, so that the test does not depend on the working directory
    return deep_merge(params, {"data": {"cmnist": {"mnist_root": str(SUBSET_ROOT)}}})


def ids_by_run(params) -> dict:
    """(study, pairing, method, lr, seed) -> run id, for every run of the studies."""
    return {(run["study"], tuple(run["config"]["modalities"]), run["config"]["method"], run["config"]["lr"],
             run["config"]["seed"]): rid for rid, run in study_runs(params, "cmnist").items()}


def changed(before: dict, after: dict, method: str) -> set:
    """The runs of `method` whose id differs between the two parameter sets."""
    assert before.keys() == after.keys()
    return {key for key in before if key[2] == method and before[key] != after[key]}


def test_every_run_id_is_distinct(base):
    ids = ids_by_run(base)
    assert len(set(ids.values())) == len(ids)


@pytest.mark.parametrize("overlay", [
    {"device": "cuda"},
    {"device": "cpu"},
    {"training": {"cmnist": {"eval_batch_size": 17}}},
    {"results_dir": "elsewhere"},
    {"data": {"cmnist": {"out_dir": "/somewhere/else/cmnist"}}},
    {"methods": {"cmnist": {"guided": {"alpha": 0.5}}}},
    {"methods": {"cmnist": {"rubi": {"bias_branch": 1}}}},
], ids=lambda overlay: str(overlay))
def test_ids_of_vanilla_and_random_runs_do_not_move(base, overlay):
    before, after = ids_by_run(base), ids_by_run(deep_merge(base, overlay))
    assert changed(before, after, "vanilla") == set()
    assert changed(before, after, "random") == set()


def test_mnist_root_is_not_hashed_but_the_mnist_it_holds_is(base, tmp_path):
    copy_root = tmp_path / "mnist-copy"
    shutil.copytree(SUBSET_ROOT, copy_root)
    moved = deep_merge(base, {"data": {"cmnist": {"mnist_root": str(copy_root)}}})
    assert ids_by_run(moved) == ids_by_run(base)
    assert data_dir(moved, "cmnist") == data_dir(base, "cmnist")
    # a folder without the files means torchvision's full MNIST: another data set, another hash
    full = deep_merge(base, {"data": {"cmnist": {"mnist_root": str(tmp_path / "empty")}}})
    assert data_dir(full, "cmnist") != data_dir(base, "cmnist")
    assert changed(ids_by_run(base), ids_by_run(full), "vanilla")


def test_data_folder_name_ignores_paths_and_follows_data_parameters(base):
    name = data_dir(base, "cmnist").name
    assert data_dir(deep_merge(base, {"data": {"cmnist": {"out_dir": "/x/y"}}}), "cmnist").name == name
    assert data_dir(deep_merge(base, {"data": {"cmnist": {"color_variance": 0.05}}}), "cmnist").name != name
    lnl_a = deep_merge(base, {"data": {"cmnist": {"source": "lnl_file", "lnl_file": "/a/mnist_10color_jitter_var_0.020.npy"}}})
    lnl_b = deep_merge(base, {"data": {"cmnist": {"source": "lnl_file", "lnl_file": "/b/mnist_10color_jitter_var_0.020.npy"}}})
    lnl_c = deep_merge(base, {"data": {"cmnist": {"source": "lnl_file", "lnl_file": "/a/mnist_10color_jitter_var_0.030.npy"}}})
    assert data_dir(lnl_a, "cmnist") == data_dir(lnl_b, "cmnist") != data_dir(lnl_c, "cmnist")


@pytest.mark.parametrize("overlay", [
    {"studies": {"cmnist": {"table1": {"lr": 0.03}, "unimodal": {"lr": 0.03},
                            "sweep": {"lr_min": 0.001}, "ablation": {"lr": 0.03}}}},
    {"seed": 5},
    {"models": {"cmnist": {"channels": [8, 8, 16, 16]}}},
    {"data": {"cmnist": {"color_variance": 0.05}}},
    {"training": {"cmnist": {"lr_schedule": {"name": "constant"}}}},
    {"training": {"cmnist": {"batch_size": 64}}},
], ids=lambda overlay: str(overlay))
def test_result_affecting_changes_move_every_id(base, overlay):
    before, after = ids_by_run(base), ids_by_run(deep_merge(base, overlay))
    assert set(before.values()).isdisjoint(after.values())


def test_guided_alpha_moves_guided_runs_only(base):
    before = ids_by_run(base)
    after = ids_by_run(deep_merge(base, {"methods": {"cmnist": {"guided": {"alpha": 0.5}}}}))
    moved = {key for key in before if before[key] != after[key]}
    assert moved and {key[2] for key in moved} == {"guided"}
    assert changed(before, after, "guided") == {key for key in before if key[2] == "guided"}


def test_run_hash_ignores_device_eval_batch_and_data_path(base):
    config = run_config(base, "cmnist", ["mono", "gray"], 0.01, 0)
    other = copy.deepcopy(config)
    other.update(device="cuda:1", data_dir="/elsewhere/" + config["data_dir"].split("/")[-1])
    other["training"]["eval_batch_size"] = 3
    assert run_hash(other) == run_hash(config) and run_hash(other, 16) == run_hash(config, 16)
    assert "device" not in result_identity(config) and "eval_batch_size" not in result_identity(config)["training"]
    for key, value in (("lr", 0.02), ("seed", 1), ("method", "guided")):
        assert run_hash({**config, key: value}) != run_hash(config), key


def test_trainer_reuses_a_run_after_a_device_or_eval_batch_change(tiny_config, tmp_path, monkeypatch):
    config = tiny_config(max_epochs=1)
    first = train(config, tmp_path / "run")
    again = copy.deepcopy(config)
    again["training"]["eval_batch_size"] = 32
    again["device"] = "auto"
    import greedy.train as trainer
    monkeypatch.setattr(trainer, "train_one_epoch", lambda *a, **k: pytest.fail("retrained"))
    assert train(again, tmp_path / "run") == first
    # the full configuration, device included, stays in config.json for provenance
    assert fileio.read_json(tmp_path / "run" / "config.json")["device"] == "cpu"


def test_a_configuration_is_trained_once_across_studies(base):
    """Smoke studies that repeat a run of an earlier study (the ablation's paper-variant vanilla
    and guided are Table 1's; ModelNet40's Table 1 runs are sweep runs at its learning rate) name
    it in "same_as", by run id, and only there: every other run is trained."""
    cmnist = study_runs(base, "cmnist")  # the smoke configuration (conftest's params)
    same = {rid: run["same_as"] for rid, run in cmnist.items() if "same_as" in run}
    assert {rid.split("/")[0] for rid in same} == {"ablation"} and len(same) == 2
    for rid, first in same.items():
        assert first.startswith("table1/") and cmnist[first]["config"] == cmnist[rid]["config"]
        assert "same_as" not in cmnist[first]
    configs = [json.dumps(run["config"], sort_keys=True) for rid, run in cmnist.items() if rid not in same]
    assert len(set(configs)) == len(configs)
    modelnet40 = study_runs(base, "modelnet40")
    assert {rid.split("/")[0] + ":" + run["same_as"].split("/")[0] for rid, run in modelnet40.items()
            if "same_as" in run and rid.startswith("table1/")} == {"table1:sweep", "table1:method_sweep"}


def test_a_run_of_the_same_configuration_is_copied_not_trained(tiny_config, tmp_path):
    from greedy.train import copy_finished_run
    config = tiny_config()
    with pytest.raises(FileNotFoundError, match="not a finished run"):
        copy_finished_run(tmp_path / "table1", tmp_path / "ablation", config)
    first = train(config, tmp_path / "table1")
    copied = copy_finished_run(tmp_path / "table1", tmp_path / "ablation", config)
    assert copied == first == fileio.read_json(tmp_path / "ablation" / "status.json")
    for name in ("metrics.csv", "steps.csv", "best.pt", "last.pt"):
        assert (tmp_path / "ablation" / name).read_bytes() == (tmp_path / "table1" / name).read_bytes(), name
    assert "copied, not trained again" in (tmp_path / "ablation" / "train.log").read_text()
    assert train(config, tmp_path / "ablation") == first  # the trainer finds it finished
    with pytest.raises(FileNotFoundError, match="this configuration"):
        copy_finished_run(tmp_path / "table1", tmp_path / "other", tiny_config(lr=0.001))
