import copy
from pathlib import Path

import pytest
import torch

from greedy.config import load_params, run_config
from greedy.data import cmnist

REPO = Path(__file__).resolve().parents[1]
SUBSET_ROOT = REPO / "data" / "mnist-subset"
SHARED_MNIST_ROOT = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def params():
    return load_params([REPO / "params.yaml", REPO / "config" / "smoke.yaml"])


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory):
    """Colored-and-gray-MNIST from the shipped real-MNIST subset, cut small for fast tests."""
    out = tmp_path_factory.mktemp("cmnist-tiny")
    cmnist.build(SUBSET_ROOT, out, color_variance=0.03, train_size=384, test_size=128, seed=0)
    return out


@pytest.fixture
def tiny_config(params, tiny_data_dir):
    """A run configuration that trains in about a second."""
    def make(modalities=("mono", "gray"), lr=0.05, seed=0, max_epochs=2):
        config = run_config(params, "cmnist", list(modalities), lr, seed)
        config = copy.deepcopy(config)
        config["data_dir"] = str(tiny_data_dir)
        config["device"] = "cpu"
        config["model"]["channels"] = [4, 8, 8, 8]
        config["training"].update(batch_size=64, eval_batch_size=128, max_epochs=max_epochs)
        return config
    return make
