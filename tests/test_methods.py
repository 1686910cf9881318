import pandas as pd
import pytest
import torch

from greedy import fileio
from greedy.methods import Guided, Random, make_method
from greedy.train import train

pytestmark = pytest.mark.unit


class FakeSpeed:
    """Per-branch speeds; d_speed as ConditionalSpeed defines it (m0 - m1, or max - min)."""

    def __init__(self, value, speeds=None):
        self.value, self.fixed = value, speeds  # two branches: speed(m0) - speed(m1) = value

    def speeds(self):
        return dict(self.fixed) if self.fixed is not None else {0: self.value / 2, 1: -self.value / 2}

    def d_speed(self):
        values = self.speeds()
        if len(values) == 2:
            return values[0] - values[1]
        return max(values.values()) - min(values.values())


def kinds(method, epoch, speed, n):
    return [method.next_step(epoch, speed) for _ in range(n)]


def test_guided_is_regular_during_warmup():
    method = Guided(alpha=0.1, rebalance_steps=5, warmup_epochs=1)
    assert kinds(method, 0, FakeSpeed(3.0), 20) == ["regular"] * 20


@pytest.mark.parametrize("d_speed, target", [(0.5, 0), (-0.5, 1)])
def test_guided_takes_q_rebalancing_steps_when_d_speed_exceeds_alpha(d_speed, target):
    method = Guided(alpha=0.1, rebalance_steps=3, warmup_epochs=1)
    speed = FakeSpeed(d_speed)
    # a regular step first (d_speed is only fresh after one), then Q re-balancing steps, repeatedly
    window = ["regular"] + [f"rebalance{target}"] * 3
    assert kinds(method, 1, speed, 12) == window * 3


def test_guided_trigger_is_strictly_greater_than_alpha():
    method = Guided(alpha=0.1, rebalance_steps=5, warmup_epochs=0)
    assert kinds(method, 0, FakeSpeed(0.1), 6) == ["regular"] * 6
    assert kinds(method, 0, FakeSpeed(-0.1), 6) == ["regular"] * 6
    assert kinds(method, 0, FakeSpeed(-0.1001), 2) == ["rebalance1"] * 2


def test_guided_stops_rebalancing_when_balanced_again():
    method = Guided(alpha=0.1, rebalance_steps=2, warmup_epochs=0)
    speed = FakeSpeed(0.0)
    assert kinds(method, 0, speed, 2) == ["regular"] * 2
    speed.value = 0.3
    assert kinds(method, 0, speed, 3) == ["rebalance0", "rebalance0", "regular"]
    speed.value = 0.05
    assert kinds(method, 0, speed, 3) == ["regular"] * 3


def test_guided_state_round_trip_mid_window():
    method = Guided(alpha=0.1, rebalance_steps=4, warmup_epochs=0)
    speed = FakeSpeed(1.0)
    kinds(method, 0, speed, 3)  # regular, rebalance0, rebalance0
    clone = Guided(alpha=0.1, rebalance_steps=4, warmup_epochs=0)
    clone.load_state_dict(method.state_dict())
    assert kinds(clone, 0, speed, 5) == kinds(method, 0, speed, 5)


def test_random_is_seeded_uniform_and_resumable():
    a, b, c = Random(seed=3), Random(seed=3), Random(seed=4)
    assert kinds(a, 0, None, 10) == ["regular"] * 10  # warm-up epoch
    drawn = kinds(a, 1, None, 3000)
    assert drawn == kinds(b, 1, None, 3000)
    assert drawn != kinds(c, 1, None, 3000)
    counts = pd.Series(drawn).value_counts(normalize=True)
    assert set(counts.index) == {"regular", "rebalance0", "rebalance1"}
    assert all(abs(v - 1 / 3) < 0.04 for v in counts)
    clone = Random(seed=0)
    clone.load_state_dict(a.state_dict())
    assert kinds(clone, 1, None, 50) == kinds(a, 1, None, 50)


def test_unknown_method_is_named():
    with pytest.raises(ValueError, match="ogm"):
        make_method("ogm")


def test_guided_training_run_logs_its_steps(tiny_config, tmp_path):
    config = tiny_config(max_epochs=2)
    config["method"] = "guided"
    config["method_params"] = {"alpha": 0.0, "rebalance_steps": 2, "warmup_epochs": 1}
    summary = train(config, tmp_path / "run")
    assert summary["status"] == "completed"
    steps = pd.read_csv(tmp_path / "run" / "steps.csv")
    epoch0, epoch1 = steps[steps.epoch == 0], steps[steps.epoch == 1]
    assert (epoch0["kind"] == "regular").all() and len(epoch0) == 6
    # alpha 0: from the warm-up's last regular step on, every regular step opens a window of 2
    kinds1 = epoch1["kind"].tolist()
    assert [k.startswith("rebalance") for k in kinds1] == [True, True, False] * 2
    assert kinds1[0] == kinds1[1] and kinds1[2] == "regular"
    speed = pd.read_csv(tmp_path / "run" / "speed.csv")
    assert speed["step"].tolist() == steps[steps.kind == "regular"]["step"].tolist()
    # the gate means count the samples of regular steps only (64 per step here)
    model_state = fileio.torch_load_verified(tmp_path / "run" / "last.pt")["model"]
    assert model_state["fusions.2.gate_count"].item() == 64 * len(speed)


def _two_branch_model(seed=0):
    from greedy.models import build_model
    torch.manual_seed(seed)
    return build_model("lnl_convnet", [3, 1], 10, [4, 4, 8, 8], [2, 3, 4])


def test_rubi_loss_as_published():
    """main loss CE(y, fused * sigmoid(c1(e))) + bias loss CE(y, c2(c1(e))), e = branch 0's
    squeeze vector entering the first MMTM."""
    model = _two_branch_model()
    rubi = make_method("rubi", bias_branch=0)
    extra = rubi.attach(model)
    assert {id(p) for p in extra} == {id(p) for p in list(rubi.bias_classifier.parameters())
                                      + list(rubi.bias_output.parameters())}
    x0, x1, labels = torch.rand(4, 3, 28, 28), torch.rand(4, 1, 28, 28), torch.tensor([1, 2, 3, 4])
    logits = model([x0, x1])
    embedding = model.branches[0].stages[1](model.branches[0].stages[0](x0)).mean((2, 3))
    bias = rubi.bias_classifier(embedding)
    fused = (logits[0] + logits[1]) / 2
    F = torch.nn.functional
    expected = F.cross_entropy(fused * torch.sigmoid(bias), labels) + F.cross_entropy(rubi.bias_output(bias), labels)
    assert torch.allclose(rubi.loss(logits, labels), expected, atol=1e-6)
    vanilla = make_method("vanilla")
    assert torch.allclose(vanilla.loss(logits, labels), sum(F.cross_entropy(l, labels) for l in logits))


def test_rubi_bias_head_is_cut_from_the_branch_and_evaluation_is_unmasked():
    model = _two_branch_model()
    x0, x1, labels = torch.rand(4, 3, 28, 28), torch.rand(4, 1, 28, 28), torch.tensor([1, 2, 3, 4])
    model.eval()
    plain = model([x0, x1])
    rubi = make_method("rubi", bias_branch=0)
    rubi.attach(model)
    # attaching RUBi leaves the model's own outputs (what evaluation uses) unchanged
    assert all(torch.equal(a, b) for a, b in zip(plain, model([x0, x1])))
    # the bias-only loss reaches the bias heads, never the branch (grad_mul_const(q, 0))
    model([x0, x1])
    bias_only = torch.nn.functional.cross_entropy(rubi.bias_output(rubi.bias_classifier(rubi._embedding)), labels)
    bias_only.backward()
    assert all(p.grad is None for p in model.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in rubi.bias_output.parameters())
    # the full loss trains the branches through the masked fused logits
    rubi.loss(model([x0, x1]), labels).backward()
    assert model.branches[1].head.fc.weight.grad.abs().sum() > 0
    assert model.branches[0].stages[0][1].weight.grad.abs().sum() > 0


def test_rubi_run_trains_and_resumes_its_bias_heads(tiny_config, tmp_path):
    config = tiny_config(max_epochs=2)
    config["method"], config["method_params"] = "rubi", {"bias_branch": 0}
    assert train(config, tmp_path / "run")["status"] == "completed"
    state = fileio.torch_load_verified(tmp_path / "run" / "last.pt")["method"]
    assert set(state) == {"bias_classifier", "bias_output"}


@pytest.mark.parametrize("sign, target", [(+1, 0), (-1, 1)])
def test_guided_replaces_the_gate_of_the_branch_d_speed_says(sign, target):
    """With a real ConditionalSpeed whose d_speed has a known sign, the re-balancing steps replace
    that branch's gate by its running mean in every MMTM, and only that branch's."""
    from greedy.speed import ConditionalSpeed
    from greedy.train import train_one_epoch
    model = _two_branch_model()
    speed = ConditionalSpeed(model.speed_groups())
    # running sums so large that one step's mu cannot move d_speed: d_speed = sign * 1
    big = torch.tensor([1e9, 1e9, 1e10, 1e9], dtype=torch.float64)  # theta0, theta1, theta0', theta1'
    if sign < 0:
        big = torch.tensor([1e9, 1e9, 1e9, 1e10], dtype=torch.float64)
    speed.running = big
    assert speed.d_speed() == pytest.approx(sign * 1.0, abs=1e-3)
    model.train()
    model([torch.rand(8, 3, 28, 28), torch.rand(8, 1, 28, 28)])  # gate means exist
    seen = []
    for m in model.fusions.values():
        m.register_forward_pre_hook(lambda mod, args: seen.append(
            (mod.rebalance_branch, [mod.mean_gate(0), mod.mean_gate(1)], mod.gates(list(args[0]))))
            if mod is model.fusions["3"] else None)
    batches = [([torch.rand(8, 3, 28, 28), torch.rand(8, 1, 28, 28)], torch.arange(8)) for _ in range(4)]
    method = Guided(alpha=0.5, rebalance_steps=2, warmup_epochs=0)
    kinds_seen = []
    train_one_epoch(model, torch.optim.SGD(model.parameters(), lr=0.0), batches, "cpu", epoch=0,
                    method=method, speed=speed, step_kinds=kinds_seen)
    assert kinds_seen == ["regular", f"rebalance{target}", f"rebalance{target}", "regular"]
    assert seen[0][0] is None and seen[3][0] is None
    for step in (1, 2):
        branch, means, gates = seen[step]
        assert branch == target
        # the running mean at that step, for every sample
        assert torch.equal(gates[target], means[target].expand_as(gates[target]))
        assert not torch.equal(gates[1 - target], means[1 - target].expand_as(gates[1 - target]))


def test_blending_weights_hand_checked():
    from greedy.methods import blending_weights
    # head 0: holdout 1.0 -> 0.8 (gain 0.2), overfitting (0.8-0.5)-(1.0-0.9) = 0.2 -> 0.2/0.04 = 5
    # head 1: holdout 1.0 -> 0.9 (gain 0.1), overfitting (0.9-0.8)-(1.0-1.0) = 0.1 -> 0.1/0.01 = 10
    # head 2: holdout got worse -> 0
    weights = blending_weights([0.9, 1.0, 1.0], [1.0, 1.0, 1.0], [0.5, 0.8, 0.9], [0.8, 0.9, 1.1])
    assert weights == pytest.approx([5 / 15, 10 / 15, 0.0], rel=1e-6)
    assert blending_weights([1.0], [1.0], [0.5], [1.2]) == []


@pytest.mark.parametrize("mode, estimates", [("online", 3), ("offline", 1)])
def test_gradient_blending_modes(mode, estimates):
    method = make_method("gradient_blending", mode=mode, super_epoch=1)
    assert method.weights is None
    for epoch in range(4):  # holdout loss keeps improving, overfitting grows
        method.end_epoch([1.0 - 0.2 * epoch] * 3, [1.0 - 0.1 * epoch, 1.0 - 0.05 * epoch, 1.0 - 0.02 * epoch])
    assert method.estimates == estimates
    assert sum(method.weights) == pytest.approx(1.0)
    logits = [torch.randn(4, 10), torch.randn(4, 10)]
    labels = torch.tensor([0, 1, 2, 3])
    heads = logits + [(logits[0] + logits[1]) / 2]
    expected = sum(w * torch.nn.functional.cross_entropy(h, labels) for w, h in zip(method.weights, heads))
    assert torch.allclose(method.loss(logits, labels), expected)


def test_gradient_blending_run_holds_out_training_data(tiny_config, tmp_path):
    config = tiny_config(max_epochs=3)
    config["method"] = "gradient_blending"
    config["method_params"] = {"mode": "online", "super_epoch": 1, "holdout_fraction": 0.25}
    summary = train(config, tmp_path / "run")
    assert summary["status"] == "completed"
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert "holdout_loss_fused" in metrics
    steps = pd.read_csv(tmp_path / "run" / "steps.csv")
    assert len(steps[steps.epoch == 0]) == 5  # 288 of 384 digits in batches of 64
    state = fileio.torch_load_verified(tmp_path / "run" / "last.pt")["method"]
    assert len(state["snapshots"]) == 3


@pytest.mark.parametrize("speeds, target", [({0: 0.1, 1: 0.9, 2: 0.3}, 1), ({0: 0.5, 1: -0.4, 2: 0.2}, 0),
                                            ({0: 0.0, 1: 0.1, 2: 0.7}, 2)])
def test_guided_with_three_branches_accelerates_the_fastest_of_the_two_most_different(speeds, target):
    """Section 7 of the paper: d_speed from the two most different speeds, one modality at a time."""
    method = Guided(alpha=0.1, rebalance_steps=2, warmup_epochs=0)
    assert kinds(method, 0, FakeSpeed(None, speeds), 6) == ["regular", f"rebalance{target}", f"rebalance{target}"] * 2


def test_guided_with_three_branches_stays_regular_within_alpha():
    method = Guided(alpha=0.1, rebalance_steps=2, warmup_epochs=0)
    assert kinds(method, 0, FakeSpeed(None, {0: 0.30, 1: 0.35, 2: 0.39}), 5) == ["regular"] * 5


def test_random_draws_every_branch_of_the_model_it_is_attached_to():
    from greedy.models import build_model
    model = build_model("cmnist_convnet", [1, 1, 1], 10, [4, 4, 4, 4], [2, 3, 4])
    method = Random(seed=0, warmup_epochs=0)
    assert method.attach(model) == []
    drawn = kinds(method, 0, None, 400)
    assert set(drawn) == {"regular", "rebalance0", "rebalance1", "rebalance2"}
    assert all(60 <= drawn.count(k) <= 140 for k in set(drawn))
