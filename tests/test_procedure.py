"""The official-code switches (greedy/procedure.py): each one's exact effect, the presets, run ids,
and the ablation study built on them."""
import copy
import json

import pandas as pd
import pytest
import torch

from greedy import procedure
from greedy.config import run_config, run_hash
from greedy.methods import Guided, Random
from greedy.mmtm import MMTM
from greedy.models import build_model
from greedy.train import count_perfect_epochs, evaluate_states, train


def _model(**switches):
    torch.manual_seed(0)
    return build_model("lnl_convnet", [3, 1], 10, [4, 4, 8, 8], [2, 3, 4], **switches)


def _batch(n=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(n, 3, 28, 28, generator=g), torch.rand(n, 1, 28, 28, generator=g)]


# --- presets and resolution ------------------------------------------------------------------

def test_presets_and_a_switch_beside_a_preset():
    assert procedure.resolve(None) == procedure.PRESETS["paper"]
    assert procedure.resolve({"preset": "official"})["evaluation_state"] == "carried"
    mixed = procedure.resolve({"preset": "official", "gate": "2sigmoid"})
    assert mixed["gate"] == "2sigmoid" and mixed["gradient_reset"] == "zero"
    assert procedure.label(mixed) == "paper + " + ", ".join(
        f"{k}={v}" for k, v in procedure.differences(mixed).items())
    assert procedure.label(procedure.PRESETS["official"]) == "official"


@pytest.mark.parametrize("section, culprit", [({"gate": "tanh"}, "procedure.gate"),
                                              ({"preset": "mine"}, "procedure.preset"),
                                              ({"gates": "sigmoid"}, "procedure.gates")])
def test_a_bad_switch_is_named(section, culprit):
    with pytest.raises(ValueError, match=culprit):
        procedure.resolve(section)


def test_run_ids_change_with_every_switch_but_not_for_the_paper_preset(params):
    base = run_config(params, "cmnist", ["mono", "gray"], 0.01, 0, "guided")
    before = copy.deepcopy(base)
    before.pop("procedure")
    assert run_hash(base) == run_hash(before), "paper-preset runs keep the ids they had"
    hashes = {run_hash(base)}
    for name, (_, official) in procedure.SWITCHES.items():
        switched = {**params, "procedure": {"cmnist": {name: official}}}
        hashes.add(run_hash(run_config(switched, "cmnist", ["mono", "gray"], 0.01, 0, "guided")))
    assert len(hashes) == 1 + len(procedure.SWITCHES)


# --- the gate and its running mean -----------------------------------------------------------

def test_gate_scale_sigmoid_or_twice_sigmoid():
    for gate, scale in (("2sigmoid", 2.0), ("sigmoid", 1.0)):
        mmtm = MMTM([4, 4], gate=gate)
        for layer in [mmtm.fc_squeeze, *mmtm.fc_excite]:
            torch.nn.init.zeros_(layer.weight), torch.nn.init.zeros_(layer.bias)
        gates = mmtm.gates([torch.rand(3, 4, 5, 5), torch.rand(3, 4, 5, 5)])
        assert all(torch.equal(g, torch.full((3, 4), scale * 0.5)) for g in gates)


def test_official_running_mean_is_the_mean_of_batch_means_of_branch0_over_every_pass():
    mmtm = MMTM([4, 4], running_mean="official")
    feats = [[torch.rand(n, 4, 3, 3), torch.rand(n, 4, 3, 3)] for n in (2, 5, 3)]
    batch_means = [mmtm.excite([mmtm.squeeze(f) for f in pair])[0].mean(0) for pair in feats]
    mmtm.train()
    mmtm(feats[0])                      # a regular training pass
    mmtm.eval()
    mmtm(feats[1])                      # an evaluation pass counts too
    mmtm.train()
    mmtm.rebalance_branch = 1
    gates = mmtm.gates(feats[2])        # a re-balancing pass: counted first, then read
    expected = torch.stack(batch_means).mean(0)  # each batch weighs the same, whatever its size
    assert mmtm.gate_count.item() == 3
    for k in (0, 1):                    # branch 1's mean is branch 0's gate (the official code)
        assert torch.allclose(mmtm.mean_gate(k), expected, atol=1e-6)
    assert torch.allclose(gates[1], expected.expand(3, -1), atol=1e-6)


def test_paper_running_mean_ignores_evaluation_and_rebalancing_and_not_counting_stops_official():
    paper, official = _model(), _model(gate_running_mean="official")
    for model in (paper, official):
        model.train()
        model(_batch())
        counts = [m.gate_count.item() for m in model.fusions.values()]
        with model.rebalancing(0):
            model(_batch(seed=2))
        model.eval()
        with model.not_counting():
            model(_batch(seed=3))
        after = [m.gate_count.item() for m in model.fusions.values()]
        assert after == ([6] * 3 if model is paper else [c + 1 for c in counts])


def test_official_running_mean_needs_equal_widths():
    with pytest.raises(ValueError, match="gate_running_mean"):
        MMTM([4, 8], running_mean="official")


# --- gradient reset --------------------------------------------------------------------------

def _steps(model, kinds, gradient_reset, optimizer=None):
    optimizer = optimizer or torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for i, kind in enumerate(kinds):
        optimizer.zero_grad(set_to_none=gradient_reset == "none")
        context = model.rebalancing(int(kind[-1])) if kind.startswith("rebalance") else torch.enable_grad()
        with context:
            loss = sum(torch.nn.functional.cross_entropy(l, torch.arange(6) % 10) for l in model(_batch(seed=i)))
        loss.backward()
        optimizer.step()
    return model


def test_zeroed_gradients_let_momentum_move_the_replaced_gate_head():
    heads = {}
    for reset in ("none", "zero"):
        model = _model()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        _steps(model, ["regular", "regular"], reset, optimizer)
        before = model.fusions["3"].fc_excite[0].weight.detach().clone()
        _steps(model, ["rebalance0"], reset, optimizer)  # branch 0's heads get no gradient here
        heads[reset] = torch.equal(model.fusions["3"].fc_excite[0].weight, before)
    assert heads == {"none": True, "zero": False}


def test_gradient_reset_is_inert_without_rebalancing():
    none, zero = (_steps(_model(), ["regular"] * 3, reset) for reset in ("none", "zero"))
    for (name, a), b in zip(none.state_dict().items(), zero.state_dict().values()):
        assert torch.equal(a, b), name
    assert procedure.inert("vanilla", {"gradient_reset": "zero"})
    assert not procedure.inert("guided", {"gradient_reset": "zero"})
    assert not procedure.inert("vanilla", {"gate": "sigmoid"})
    assert procedure.inert("random", {"gradient_reset": "zero"}, ["guided"])  # the ablation's choice
    assert not procedure.inert("random", {"preset": "official"}, ["guided"])


# --- counting perfect epochs -----------------------------------------------------------------

def test_consecutive_and_cumulative_counting():
    from greedy.render.ablation import stop_epoch
    history = [1.0, 1.0, 0.99, 1.0, 1.0, 0.98, 1.0]
    consecutive = cumulative = 0
    for acc in history:
        consecutive = count_perfect_epochs(consecutive, acc, "consecutive")
        cumulative = count_perfect_epochs(cumulative, acc, "cumulative")
    assert (consecutive, cumulative) == (1, 5)
    assert stop_epoch(history, 5, "cumulative") == 7
    assert stop_epoch(history, 3, "cumulative") == 4
    assert stop_epoch(history, 3, "consecutive") == 7  # never three in a row: trains on


# --- first step after the warm-up, and what the next step will be ----------------------------

class _Speed:
    def __init__(self, d):
        self.d = d

    def d_speed(self):
        return self.d

    def speeds(self):
        return {0: 1.0 + self.d, 1: 1.0}


@pytest.mark.parametrize("first, expected", [("any", ["rebalance0", "rebalance0", "regular", "rebalance0"]),
                                             ("regular", ["regular", "rebalance0", "rebalance0", "regular"])])
def test_guided_first_step_after_warmup(first, expected):
    method = Guided(alpha=0.1, rebalance_steps=2, warmup_epochs=1, first_step_after_warmup=first)
    speed = _Speed(0.5)
    assert method.next_step(0, speed) == "regular"  # the warm-up's last step
    kinds = []
    for _ in range(4):
        upcoming = method.upcoming(1, speed)
        kinds.append(method.next_step(1, speed))
        assert upcoming == kinds[-1], "upcoming() is the step next_step() takes"
    assert kinds == expected


def test_guided_upcoming_has_no_side_effects():
    method = Guided(alpha=0.1, rebalance_steps=3, warmup_epochs=0)
    speed = _Speed(-0.5)
    method.next_step(0, speed)
    state = json.dumps(method.state_dict())
    for _ in range(3):
        assert method.upcoming(0, speed) == "rebalance1"
    assert json.dumps(method.state_dict()) == state


def test_random_draws_the_same_stream_with_or_without_upcoming_and_resumes_a_pending_draw():
    plain, peeking = Random(seed=3, warmup_epochs=0), Random(seed=3, warmup_epochs=0)
    kinds_plain = [plain.next_step(0, None) for _ in range(30)]
    kinds_peek = []
    for i in range(30):
        if i % 7 == 0:
            ahead = peeking.upcoming(0, None)
            state = peeking.state_dict()
            resumed = Random(seed=99, warmup_epochs=0)
            resumed.load_state_dict(state)
            assert resumed.next_step(0, None) == ahead
        kinds_peek.append(peeking.next_step(0, None))
    assert kinds_plain == kinds_peek
    assert Random(seed=3, warmup_epochs=0, first_step_after_warmup="regular").next_step(0, None) == "regular"


# --- evaluation states -----------------------------------------------------------------------

class _Splits:
    def __init__(self, batches):
        self.val = self.test = batches
        self.val_is_test = True


def test_carried_evaluation_runs_in_the_rebalancing_state_and_only_the_selected_state_counts():
    model = _model(gate_running_mean="official")
    model.train()
    model(_batch())
    batches = [(_batch(seed=5), torch.arange(6) % 10)]
    splits = _Splits(batches)
    same = evaluate_states(model, splits, "cpu", "regular", "carried")
    assert same["clean"] is same["carried"]
    counts = model.fusions["2"].gate_count.item()
    states = evaluate_states(model, splits, "cpu", "rebalance1", "clean")
    assert model.fusions["2"].gate_count.item() == counts + 1, "the clean pass counts, the carried one observes"
    with model.rebalancing(1):
        model.eval()
        with model.not_counting():
            logits = model(batches[0][0])
    acc_b1 = (logits[1].argmax(1) == batches[0][1]).double().mean().item()
    assert states["carried"][1]["acc_b1"] == pytest.approx(acc_b1)


def test_a_carried_run_selects_on_the_carried_state_and_records_both(tiny_config, tmp_path):
    config = tiny_config(max_epochs=3)
    config["method"] = "guided"
    config["method_params"] = {"alpha": 0.0, "rebalance_steps": 2, "warmup_epochs": 1}
    config["procedure"] = procedure.resolve({"evaluation_state": "carried"})
    summary = train(config, tmp_path / "run")
    history = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert {"carried_kind", "carried_val_acc", "carried_test_acc_b1"} <= set(history)
    best = history.loc[history["carried_val_acc"].idxmax()]
    assert summary["evaluation_state"] == "carried" and summary["best_epoch"] == best["epoch"]
    assert summary["test_acc"] == summary["test_acc_carried"] == best["carried_test_acc"]
    assert summary["test_acc_clean"] == best["test_acc"]
    assert (history["carried_kind"] != "regular").any()


# --- the ablation study ----------------------------------------------------------------------

def test_ablation_runs_skip_inert_variants(params):
    from greedy.studies import study_runs
    runs = {rid: r for rid, r in study_runs(params, "cmnist").items() if r["study"] == "ablation"}
    ablation = params["studies"]["cmnist"]["ablation"]
    expected = sum(1 for v in ablation["variants"] for m in ablation["methods"]
                   if not procedure.inert(m, v, ablation.get("rebalancing_switches_for")))
    assert len(runs) == expected
    labels = {(r["config"]["method"], procedure.label(r["config"]["procedure"])) for r in runs.values()}
    assert ("guided", "official") in labels and ("vanilla", "paper") in labels
    # params.yaml's own ablation: 6 variants; vanilla and random skip the 3 re-balancing-only ones
    from helpers import REPO
    from greedy.config import load_params
    full = {r["config"]["method"] + "/" + procedure.label(r["config"]["procedure"])
            for r in study_runs(load_params([REPO / "params.yaml"]), "cmnist").values() if r["study"] == "ablation"}
    assert len(full) == 12 and "guided/paper + gradient_reset=zero" in full
    assert "random/paper + gradient_reset=zero" not in full and "vanilla/official" in full


def test_the_run_configuration_builds_the_model_its_switches_name(tiny_config):
    from greedy.evaluation import build_for_config, splits_for_config
    config = tiny_config()
    config["procedure"] = procedure.resolve({"preset": "official"})
    model = build_for_config(config, splits_for_config(config), "cpu")
    assert {(m.gate_scale, m.running_mean) for m in model.fusions.values()} == {(1.0, "official")}
    config["procedure"] = procedure.resolve(None)
    model = build_for_config(config, splits_for_config(config), "cpu")
    assert {(m.gate_scale, m.running_mean) for m in model.fusions.values()} == {(2.0, "regular_passes")}


def test_the_readme_ablation_table_is_the_one_rendered_from_the_measured_runs(tmp_path):
    """measured/cmnist/ holds the ablation's runs (small outputs, kept in git); `greedy render
    ablation` on them rebuilds the README's table line for line."""
    import subprocess
    from helpers import REPO
    out = tmp_path / "ablation"
    result = subprocess.run(["greedy", "render", "ablation", "--ablation", "measured/cmnist/ablation.csv",
                             "--csv", str(out / "t.csv"), "--md", str(out / "t.md"), "--png", str(out / "t.png"),
                             "--meta", str(out / "t.meta.json")], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    table = [line for line in (out / "t.md").read_text().splitlines() if line.startswith("|")]
    readme = (REPO / "README.md").read_text()
    assert len(table) >= 2 + 15 and all(line in readme for line in table)
