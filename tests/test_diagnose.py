"""Branch votes: hand-checked on fixed logits, and consistent with d_util's accuracies on a real run."""
import pytest
import torch

from greedy.diagnose import branch_votes, diagnose_run
from greedy.train import train
from greedy.utilization import evaluate_run

pytestmark = pytest.mark.unit


class FixedLogits(torch.nn.Module):
    """Returns the same two-branch logits for every batch (one batch of three samples)."""
    num_branches = 2

    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def forward(self, inputs):
        return self.logits


def test_branch_votes_by_hand():
    labels = torch.tensor([0, 1, 2])
    colour_branch = torch.tensor([[0.0, 9.0, 0.0], [0.0, 0.0, 9.0], [9.0, 0.0, 0.0]])  # always wrong, sure
    shape_branch = torch.tensor([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]])   # always right, unsure
    model = FixedLogits([colour_branch, shape_branch])
    votes = branch_votes(model, [([torch.zeros(3, 1)], labels)], "cpu", colour_class=torch.tensor([1, 2, 0]))
    assert votes["branch_acc"] == [0.0, 1.0]
    assert votes["branch_predicts_colour_class"] == [1.0, 0.0]
    # logit mean: 4.5 on the wrong class beats 1 on the right one -> fused accuracy 0
    assert votes["fused_acc_logit_mean"] == 0.0
    # top-1 probabilities: e^9/(e^9+2) and e^2/(e^2+2)
    assert votes["branch_confidence"][0] == pytest.approx(torch.tensor(9.0).exp() / (torch.tensor(9.0).exp() + 2))
    assert votes["branch_confidence"][1] == pytest.approx(torch.tensor(2.0).exp() / (torch.tensor(2.0).exp() + 2))
    # probability mean: wrong 0.5*0.9998 + 0.5*0.12 ≈ 0.56 vs right 0.5*0.0001 + 0.5*0.79 ≈ 0.40 -> still 0
    assert votes["fused_acc_prob_mean"] == 0.0


def test_diagnosis_agrees_with_the_utilization_accuracies(tiny_config, tmp_path):
    train(tiny_config(), tmp_path / "run")
    utilization = evaluate_run(tmp_path / "run")
    diagnosis = diagnose_run(tmp_path / "run")
    assert diagnosis["branch_acc"] == pytest.approx([utilization["A_f0"], utilization["A_f1"]])
    assert diagnosis["fused_acc_logit_mean"] == pytest.approx(utilization["test_acc"])
    assert all(0 <= v <= 1 for v in diagnosis["branch_predicts_colour_class"])
