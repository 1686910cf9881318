import pandas as pd
import pytest
import torch

from greedy.methods import Guided, Random, make_method
from greedy.train import train


class FakeSpeed:
    def __init__(self, value):
        self.value = value

    def d_speed(self):
        return self.value


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
    model_state = torch.load(tmp_path / "run" / "last.pt", weights_only=False)["model"]
    assert model_state["fusions.2.gate_count"].item() == 64 * len(speed)


def test_rubi_loss_masks_the_other_branch_with_the_bias_branch():
    torch.manual_seed(0)
    logits = [torch.randn(4, 10, requires_grad=True), torch.randn(4, 10, requires_grad=True)]
    labels = torch.tensor([1, 2, 3, 4])
    rubi = make_method("rubi", bias_branch=0)
    expected = (torch.nn.functional.cross_entropy(logits[1] * torch.sigmoid(logits[0]), labels)
                + torch.nn.functional.cross_entropy(logits[0], labels))
    assert torch.allclose(rubi.loss(logits, labels), expected)
    # vanilla is the plain sum of the branch losses
    vanilla = make_method("vanilla")
    plain = sum(torch.nn.functional.cross_entropy(l, labels) for l in logits)
    assert torch.allclose(vanilla.loss(logits, labels), plain)
    assert make_method("rubi", bias_branch=1).loss(logits, labels) != rubi.loss(logits, labels)


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
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=False)["method"]
    assert len(state["snapshots"]) == 3
