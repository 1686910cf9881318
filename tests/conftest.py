import copy
import getpass
import os
import tempfile
from pathlib import Path

# The smoke regression file (tests/test_workflow/) holds bit for bit only with the same kernels:
# AVX2 ones, what every x86 machine since 2013 has. On an AVX-512 machine PyTorch and oneDNN would
# otherwise pick other kernels, whose different summation orders the smoke run's small models
# amplify into d_util 0.3 apart. Set before torch is imported; every subprocess (dvc, snakemake,
# the SLURM jobs) inherits it. MKL needs no pin: it gives the same results on both.
os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")
os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")
# Inductor's cache does not tell kernels built under one capability from another's (PyTorch
# 2.14.1: compiled training gave NaN losses from kernels cached by an unpinned run), so the tests
# keep a cache per capability.
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(Path(tempfile.gettempdir()) / (
    f"torchinductor-tests-{getpass.getuser()}-{os.environ['ATEN_CPU_CAPABILITY']}")))

import pytest
import torch

from greedy.config import load_params, run_config
from greedy.data import cmnist

from helpers import REPO, SUBSET_ROOT  # noqa: E402


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


@pytest.fixture(autouse=True)
def _unit_tests_start_no_process(request, monkeypatch):
    """A test marked `unit` that starts a process is not one: say so instead of running it."""
    if request.node.get_closest_marker("unit"):
        import subprocess

        def refuse(*args, **kwargs):
            raise AssertionError(f"{request.node.nodeid} is marked unit but starts a process: {args[:1]}")
        monkeypatch.setattr(subprocess, "Popen", refuse)
