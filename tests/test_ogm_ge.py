"""OGM-GE (Peng et al. 2022) adapted to per-branch heads: the coefficient, which gradients it
scales, the GE noise's scale, and its state across a resume."""
import math

import pytest
import torch

from greedy.methods import OGMGE, make_method, ogm_coefficients
from greedy.models import build_model

pytestmark = pytest.mark.unit


def test_coefficient_for_a_known_ratio():
    # scores 30 and 10: rho = 3 for the dominant branch, 1/3 for the other
    assert ogm_coefficients(torch.tensor([30.0, 10.0]), alpha=0.5) == pytest.approx([1 - math.tanh(1.5), 1.0])
    assert ogm_coefficients(torch.tensor([10.0, 30.0]), alpha=0.5) == pytest.approx([1.0, 1 - math.tanh(1.5)])
    assert ogm_coefficients(torch.tensor([7.0, 7.0]), alpha=0.5) == [1.0, 1.0]  # rho = 1: no modulation
    # three branches: rho_k against the mean of the others (40 / ((10 + 30) / 2) = 2)
    assert ogm_coefficients(torch.tensor([40.0, 10.0, 30.0]), alpha=1.0) == pytest.approx(
        [1 - math.tanh(2.0), 1.0, 1 - math.tanh(30 / 25)])


def test_scores_are_the_summed_true_class_probabilities():
    logits = [torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.zeros(2, 2)]
    labels = torch.tensor([0, 1])
    expected = torch.tensor([2.0, 0.0]).softmax(0)[0] + torch.tensor([0.0, 1.0]).softmax(0)[1]
    assert OGMGE.scores(logits, labels) == pytest.approx(torch.stack([expected, torch.tensor(1.0)]))


def _model_with_gradients():
    torch.manual_seed(0)
    model = build_model("lnl_convnet", [3, 1], 10, [4, 8, 8, 8], [2, 3, 4])
    inputs = [torch.randn(16, 3, 28, 28), torch.randn(16, 1, 28, 28)]
    labels = torch.randint(0, 10, (16,))
    logits = model(inputs)
    sum(torch.nn.functional.cross_entropy(l, labels) for l in logits).backward()
    return model, logits, labels


def test_only_the_dominant_branch_conv_gradients_are_scaled():
    model, logits, labels = _model_with_gradients()
    with torch.no_grad():  # make branch 0 dominant: confident on the true class
        logits = [torch.nn.functional.one_hot(labels, 10).float() * 10, logits[1]]
    before = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    method = OGMGE(alpha=0.5, ge=False)
    method.after_backward(model, logits, labels, epoch=1)
    coefficient, other = method.last_coefficients
    assert coefficient < 1 and other == 1.0
    for name, parameter in model.named_parameters():
        if parameter.grad is None:
            continue
        scaled = name.startswith("branches.0.stages.") and parameter.dim() >= 4
        expected = before[name] * coefficient if scaled else before[name]
        assert torch.equal(parameter.grad, expected), name


def test_ge_noise_has_the_gradient_standard_deviation():
    weight = torch.nn.Parameter(torch.zeros(64, 64, 3, 3))
    weight.grad = torch.randn(64, 64, 3, 3) * 0.05

    class Stub:  # one branch of one conv kernel, and a second branch without parameters
        branches = [type("B", (), {"stages": torch.nn.ParameterList([weight])})(),
                    type("B", (), {"stages": torch.nn.ParameterList()})()]

    grad = weight.grad.clone()
    method = OGMGE(alpha=0.0, ge=True)  # alpha 0: coefficient 1, noise only
    method.after_backward(Stub, [torch.zeros(4, 2), torch.zeros(4, 2)], torch.zeros(4, dtype=torch.long), epoch=1)
    noise = weight.grad - grad
    assert noise.std().item() == pytest.approx(grad.std().item(), rel=0.02)
    assert abs(noise.mean().item()) < 0.1 * grad.std().item()  # centred


def test_the_window_and_a_resumed_generator():
    method = make_method("ogm_ge", alpha=0.5, window_start=2, window_end=3, seed=1)
    assert [method.in_window(e) for e in (1, 2, 3, 4)] == [False, True, True, False]
    state = method.state_dict()
    first = torch.randn(5, generator=method.generator)
    again = make_method("ogm_ge", seed=99)
    again.load_state_dict(state)
    assert torch.equal(torch.randn(5, generator=again.generator), first)


def test_a_run_trains_and_repeats_exactly(tiny_config, tmp_path):
    import pandas as pd

    from greedy.train import train
    config = tiny_config(max_epochs=2)
    config["method"], config["method_params"] = "ogm_ge", {"alpha": 0.5, "ge": True}
    first = train(config, tmp_path / "a")
    train(config, tmp_path / "b")
    assert first["status"] == "completed"
    for name in ("metrics.csv", "steps.csv"):
        a, b = (pd.read_csv(tmp_path / run / name) for run in ("a", "b"))
        pd.testing.assert_frame_equal(a.drop(columns="seconds", errors="ignore"),
                                      b.drop(columns="seconds", errors="ignore"), check_exact=True)
