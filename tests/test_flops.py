"""greedy.flops: FLOPs of a training step counted from the layers, against hand counts."""
import pytest
import torch
from torch import nn

from greedy.flops import forward_macs, step_flops
from greedy.models import build_model

pytestmark = pytest.mark.unit


def test_conv2d_hand_count():
    conv = nn.Conv2d(3, 8, 3, stride=1, padding=1)
    # 8 output channels x 4 x 4 positions x (3 input channels x 3 x 3 kernel)
    assert forward_macs(conv, torch.randn(1, 3, 4, 4)) == {"conv": 8 * 4 * 4 * 3 * 3 * 3, "linear": 0}
    assert 8 * 4 * 4 * 3 * 3 * 3 == 3456


def test_grouped_and_strided_conv2d():
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)  # 5x5 -> 3x3, 2 input channels a group
    assert forward_macs(conv, torch.randn(2, 4, 5, 5))["conv"] == 2 * 6 * 3 * 3 * 2 * 3 * 3


def test_linear_hand_count():
    assert forward_macs(nn.Linear(10, 5), torch.randn(2, 10)) == {"conv": 0, "linear": 2 * 5 * 10}


def test_conv3d_hand_count():
    conv = nn.Conv3d(2, 4, (1, 3, 3), stride=(1, 2, 2))  # 3x5x5 -> 3x2x2, no padding
    assert forward_macs(conv, torch.randn(1, 2, 3, 5, 5))["conv"] == 4 * 3 * 2 * 2 * (2 * 1 * 3 * 3)


def test_step_is_three_forwards_of_two_flops_per_mac():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4 * 4, 5))
    flops = step_flops(model, torch.randn(1, 3, 4, 4))
    assert flops["conv"] == 3 * 2 * 3456
    assert flops["linear"] == 3 * 2 * 5 * 128
    assert flops["total"] == flops["conv"] + flops["linear"] == 3 * flops["forward"]


def test_two_branch_model_counts_both_branches():
    c1, c2, c3, c4 = channels = [4, 4, 8, 8]
    model = build_model("lnl_convnet", [1, 3], 10, channels, [2, 3, 4])
    model.train()
    n = 2
    macs = forward_macs(model, [torch.randn(n, 1, 28, 28), torch.randn(n, 3, 28, 28)])

    def branch_conv(c_in):  # conv 5x5 at 28x28, max-pool to 14x14, 3x3, 3x3 stride 2 to 7x7, 3x3
        return n * (c1 * 28 * 28 * c_in * 25 + c2 * 14 * 14 * c1 * 9 + c3 * 7 * 7 * c2 * 9 + c4 * 7 * 7 * c3 * 9)

    assert macs["conv"] == branch_conv(1) + branch_conv(3)
    heads = 2 * n * c4 * 10
    fusions = n * sum(fc.in_features * fc.out_features for m in model.fusions.values()
                      for fc in [m.fc_squeeze, *m.fc_excite])
    assert fusions > 0 and macs["linear"] == heads + fusions
    assert model.training  # the counting pass leaves the model's mode as it was
