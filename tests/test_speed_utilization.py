import math

import pytest
import torch
from torch import nn

from greedy.speed import ConditionalSpeed, d_speed_series
from greedy.utilization import sparsity_ratio, utilization_rates

pytestmark = pytest.mark.unit


def _set(param: nn.Parameter, value, grad):
    with torch.no_grad():
        param.copy_(torch.tensor(value, dtype=param.dtype))
    param.grad = torch.tensor(grad, dtype=param.dtype)


def test_mu_running_sums_and_d_speed_by_hand():
    a, b, s, h0, h1 = (nn.Parameter(torch.zeros(2)) for _ in range(5))
    # theta0 = {a}, theta1 = {b}, theta0' = {s, h0}, theta1' = {s, h1}: s is shared
    tracker = ConditionalSpeed({"theta0": [a], "theta1": [b], "theta0'": [s, h0], "theta1'": [s, h1]})
    _set(a, [3.0, 4.0], [1.0, 0.0])       # mu = 1 / 25
    _set(b, [1.0, 0.0], [0.0, 2.0])       # mu = 4 / 1
    _set(s, [1.0, 1.0], [1.0, 1.0])       # shared: ||g||^2 = 2, ||w||^2 = 2
    _set(h0, [0.0, 2.0], [0.0, 2.0])      # theta0': (2 + 4) / (2 + 4) = 1
    _set(h1, [0.0, 0.0], [3.0, 0.0])      # theta1': (2 + 9) / (2 + 0) = 5.5
    mu = tracker.update()
    assert mu.tolist() == pytest.approx([1 / 25, 4.0, 1.0, 5.5])
    expected = math.log10(1.0 / (1 / 25)) - math.log10(5.5 / 4.0)
    assert tracker.d_speed() == pytest.approx(expected)
    # second step: sums accumulate, no window, no reset
    a.grad = torch.tensor([0.0, 5.0])     # mu = 25 / 25 = 1
    tracker.update()
    assert tracker.running.tolist() == pytest.approx([1 / 25 + 1, 8.0, 2.0, 11.0])
    assert tracker.d_speed() == pytest.approx(math.log10(2.0 / 1.04) - math.log10(11.0 / 8.0))
    columns, rows = tracker.drain_rows()
    assert columns[:4] == ["mu_theta0", "mu_theta1", "mu_theta0'", "mu_theta1'"]
    assert len(rows) == 2 and rows[1][4:] == pytest.approx([1.04, 8.0, 2.0, 11.0])
    import pandas as pd
    frame = pd.DataFrame(rows, columns=columns)
    assert d_speed_series(frame).tolist() == pytest.approx(
        [expected, math.log10(2.0 / 1.04) - math.log10(11.0 / 8.0)])


def test_speed_state_round_trip():
    p = nn.Parameter(torch.ones(3))
    q = nn.Parameter(torch.ones(3))
    groups = {"theta0": [p], "theta1": [q], "theta0'": [p], "theta1'": [q]}
    first = ConditionalSpeed(groups)
    p.grad, q.grad = torch.ones(3), torch.full((3,), 2.0)
    first.update()
    second = ConditionalSpeed(groups)
    second.load_state_dict(first.state_dict())
    assert torch.equal(second.running, first.running) and second.steps == 1


def test_utilization_rates_hand_checked():
    rates = utilization_rates([0.8, 0.9], [0.4, 0.9])
    assert rates == pytest.approx({"u_m1_given_m0": 0.5, "u_m0_given_m1": 0.0, "d_util": 0.5})
    # u can be negative: isolating m0 from m1 *raised* branch 1's accuracy
    rates = utilization_rates([0.5, 0.5], [0.5, 0.6])
    assert rates["u_m0_given_m1"] == pytest.approx(-0.2)
    assert rates["d_util"] == pytest.approx(0.2)
    # and below -1: a branch at 10 % with fusion intact and 50 % without (u = -4), so d_util
    # is not bounded by [-1, 1]
    rates = utilization_rates([0.9, 0.1], [0.45, 0.5])
    assert rates["u_m0_given_m1"] == pytest.approx(-4.0)
    assert rates["d_util"] == pytest.approx(0.5 + 4.0)
    # a branch that gets nothing right with fusion intact: u is a fraction of 0, undefined
    rates = utilization_rates([0.0, 0.5], [0.25, 0.25])
    assert math.isnan(rates["u_m1_given_m0"]) and rates["u_m0_given_m1"] == pytest.approx(0.5)
    assert math.isnan(rates["d_util"])


def test_mu_is_recorded_before_the_optimiser_step_on_the_real_groups():
    """mu(theta; i) uses the gradients of step i and the parameters *before* its update."""
    import copy
    from greedy.models import build_model
    from greedy.train import train_one_epoch
    torch.manual_seed(0)
    model = build_model("lnl_convnet", [3, 1], 10, [4, 4, 8, 8], [2, 3, 4])
    batch = ([torch.rand(8, 3, 28, 28), torch.rand(8, 1, 28, 28)], torch.arange(8) % 10)
    reference = copy.deepcopy(model)
    reference.train()
    loss = sum(nn.functional.cross_entropy(l, batch[1]) for l in reference(batch[0]))
    loss.backward()
    expected = {}
    for name, group in reference.speed_groups().items():
        grad = sum(float((p.grad ** 2).sum()) for p in group if p.grad is not None)
        weight = sum(float((p.detach() ** 2).sum()) for p in group)
        expected[name] = grad / weight
    tracker = ConditionalSpeed(model.speed_groups())
    train_one_epoch(model, torch.optim.SGD(model.parameters(), lr=0.5), [batch], "cpu", speed=tracker)
    got = dict(zip(tracker.names, tracker.running.tolist()))
    assert got == pytest.approx(expected, rel=1e-4)
    moved = sum(float(((a - b) ** 2).sum()) for a, b in zip(model.parameters(), reference.parameters()))
    assert moved > 0  # the step did change the weights, so "after" would have differed


def test_sparsity_ratio():
    model = nn.Linear(4, 2)  # 8 weights + 2 biases
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.0, 1e-8, -1e-8, 1.0], [2e-7, -2e-7, 1e-7, 0.5]]))
        model.bias.copy_(torch.tensor([0.0, 3.0]))
    # below 1e-7 in absolute value: 0, 1e-8, -1e-8 and the zero bias (1e-7 itself is not below)
    assert sparsity_ratio(model) == pytest.approx(4 / 10)


def test_utilization_rates_with_three_branches_hand_checked():
    # u_k = (A(f_k) - A(f_k'))/A(f_k): 0.5, 0.0, -0.25; d_util = the two most different: 0.5 - (-0.25)
    rates = utilization_rates([0.8, 0.6, 0.4], [0.4, 0.6, 0.5])
    assert rates["u_others_given_m0"] == pytest.approx(0.5)
    assert rates["u_others_given_m1"] == pytest.approx(0.0)
    assert rates["u_others_given_m2"] == pytest.approx(-0.25)
    assert rates["d_util"] == pytest.approx(0.75)


def test_three_branch_utilization_isolates_each_branch_from_both_others():
    from greedy.models import build_model
    from greedy.utilization import conditional_utilization
    torch.manual_seed(0)
    model = build_model("cmnist_convnet", [1, 1, 1], 10, [4, 4, 8, 8], [2, 3, 4])
    batches = [([torch.randn(16, 1, 28, 28) for _ in range(3)], torch.randint(0, 10, (16,))) for _ in range(3)]
    result = conditional_utilization(model, batches, batches, "cpu")
    for k in range(3):
        assert 0.0 <= result[f"A_f{k}"] <= 1.0 and 0.0 <= result[f"A_f{k}_isolated"] <= 1.0
    u = [result[f"u_others_given_m{k}"] for k in range(3)]
    assert result["d_util"] == pytest.approx(max(u) - min(u))
