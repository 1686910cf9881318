"""torch.compile in the trainer (greedy/compiling.py): bounded graphs under re-balancing, the
eager fallback, agreement and determinism of compiled training, the `auto` policy."""
import copy

import pandas as pd
import pytest
import torch
from torch._dynamo.utils import counters

from helpers import SUBSET_ROOT
from greedy import compiling, fileio
from greedy.config import run_hash
from greedy.data import cmnist
from greedy.evaluation import build_for_config, splits_for_config
from greedy.methods import make_method
from greedy.speed import ConditionalSpeed
from greedy.train import train, train_one_epoch


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    counters.clear()
    yield
    torch._dynamo.reset()


def test_auto_compiles_long_runs_only():
    cpu, cuda, mps = (torch.device(d) for d in ("cpu", "cuda", "mps"))
    assert not compiling.should_compile("auto", cpu, compiling.AUTO_MIN_STEPS - 1)
    assert compiling.should_compile("auto", cpu, compiling.AUTO_MIN_STEPS)
    assert compiling.should_compile("auto", cuda, 10 ** 6)
    assert not compiling.should_compile("auto", mps, 10 ** 6)
    assert not compiling.should_compile("auto", cpu, 10 ** 6, "i3d")  # measured: no gain
    assert compiling.should_compile("auto", cuda, 10 ** 6, "i3d")
    assert compiling.should_compile(True, cpu, 1) and not compiling.should_compile(False, cuda, 10 ** 6)
    with pytest.raises(ValueError, match="compile"):
        compiling.should_compile("yes", cpu, 1)


def test_compile_is_not_in_the_run_id(tiny_config):
    config = tiny_config()
    other = copy.deepcopy(config)
    other["training"]["compile"] = not config["training"].get("compile", False)
    assert run_hash(config) == run_hash(other)


def test_rebalancing_under_compile_compiles_each_kind_of_step_once(tiny_config):
    """Regular steps and re-balancing steps of either branch, in random order, over three epochs
    (each with a partial last batch): three graphs (regular, rebalance0, rebalance1), not one per
    step; the gate means count the regular steps only, as eagerly. Graph capture is Dynamo's, the
    same for every backend: aot_eager keeps the test fast."""
    config = tiny_config()
    config["training"]["batch_size"] = 50  # 384 digits: 7 full batches and one of 34 an epoch
    splits = splits_for_config(config)
    model = build_for_config(config, splits, "cpu")
    method = make_method("random", seed=0, warmup_epochs=0)
    method.attach(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    speed = ConditionalSpeed(model.speed_groups())
    net = compiling.Compiled(model, batch_size=50, backend="aot_eager")
    # the first step must be regular (a gate mean must exist before re-balancing)
    train_one_epoch(net, optimizer, [next(iter(splits.train))], "cpu", method=make_method("vanilla"), speed=speed)
    kinds: list[str] = []
    for epoch in range(3):
        splits.train.set_epoch(epoch)
        assert train_one_epoch(net, optimizer, splits.train, "cpu", epoch=epoch, method=method,
                               speed=speed, step_kinds=kinds) is not None
    assert {"regular", "rebalance0", "rebalance1"} <= set(kinds)
    assert net.active, net.error
    assert counters["stats"]["unique_graphs"] == 3, dict(counters["stats"])
    regular_samples = 50 + sum(50 if i % 8 != 7 else 34 for i, k in enumerate(kinds) if k == "regular")
    for fusion in model.fusions.values():
        assert fusion.gate_count.item() == regular_samples


def test_a_failing_compiler_falls_back_to_eager_with_the_same_results(tiny_config, tmp_path, monkeypatch):
    def broken_backend(graph, example_inputs):
        raise RuntimeError("no C++ compiler here")

    eager = train(tiny_config(), tmp_path / "eager")
    config = tiny_config()
    config["training"]["compile"] = True
    monkeypatch.setattr(compiling, "BACKEND", broken_backend)
    fallback = train(config, tmp_path / "fallback")
    assert fallback["status"] == "completed" and fallback["compiled"] is False
    assert "torch.compile failed" in (tmp_path / "fallback" / "train.log").read_text()
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "eager" / "metrics.csv").drop(columns="seconds"),
                                  pd.read_csv(tmp_path / "fallback" / "metrics.csv").drop(columns="seconds"))
    assert fallback["test_acc"] == eager["test_acc"]


@pytest.fixture(scope="module")
def small_data_dir(tmp_path_factory):
    """A small real run's data: the subset's 3,000 training and 1,000 test digits (an accuracy
    step of 0.1 point)."""
    out = tmp_path_factory.mktemp("cmnist-small")
    cmnist.build(SUBSET_ROOT, out, color_variance=0.03, train_size=3000, test_size=1000, seed=0)
    return out


def test_compiled_training_agrees_with_eager_and_repeats_exactly(tiny_config, small_data_dir, tmp_path):
    """Inductor-compiled training: test accuracy within 0.5 points of the eager run's, and a
    second compiled run with the same seed gives the same metrics (CPU); checkpoints hold the
    eager module's keys. Compiled and eager steps differ by float rounding (~1e-7); SGD grows
    such a difference as it would grow any other (a 1e-6 change of the initial weights does the
    same), and at a high learning rate or over long runs two such runs end as far apart as two
    seeds. Here (gray/gray, lr 0.02, 188 steps) the weights end ~1e-5 apart, a fair test."""
    def config(compile_):
        c = tiny_config(modalities=("gray", "gray"), lr=0.02, max_epochs=2)
        c["data_dir"] = str(small_data_dir)
        c["model"]["channels"] = [8, 16, 16, 16]
        c["training"].update(batch_size=32, eval_batch_size=500, compile=compile_)
        return c

    eager = train(config(False), tmp_path / "eager")
    compiled = train(config(True), tmp_path / "compiled")
    again = train(config(True), tmp_path / "again")
    assert compiled["compiled"] and again["compiled"] and not eager["compiled"]
    assert abs(compiled["test_acc"] - eager["test_acc"]) <= 0.005, (compiled["test_acc"], eager["test_acc"])
    assert compiled["test_acc"] > 0.15  # it learned (chance: 0.1)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "compiled" / "metrics.csv").drop(columns="seconds"),
                                  pd.read_csv(tmp_path / "again" / "metrics.csv").drop(columns="seconds"))
    for run in ("compiled", "eager"):
        best = torch.load(tmp_path / run / "best.pt", weights_only=False)["model"]
        last = fileio.torch_load_verified(tmp_path / run / "last.pt")["model"]
        assert set(best) == set(last) == set(build_for_config(config(False), splits_for_config(config(False)),
                                                              "cpu").state_dict())
