import pytest
import torch

from greedy.mmtm import MMTM
from greedy.models import build_model

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("spatial", [(7, 7), (4, 5, 6), ()])
@pytest.mark.parametrize("channels", [[8], [8, 16], [8, 16, 4]])
def test_mmtm_shapes_and_gate_range(channels, spatial):
    torch.manual_seed(0)
    mmtm = MMTM(channels)
    assert mmtm.fc_squeeze.in_features == sum(channels)
    assert mmtm.fc_squeeze.out_features == int(2 * sum(channels) / 4)
    assert [h.out_features for h in mmtm.fc_excite] == channels
    features = [torch.randn(3, c, *spatial) for c in channels]
    out = mmtm(features)
    assert [o.shape for o in out] == [f.shape for f in features]
    for f, o, g in zip(features, out, mmtm.gates(features)):
        assert g.shape == (3, f.shape[1])
        assert bool(((g > 0) & (g < 2)).all())
        # channel-wise product: out / in equals the gate broadcast over spatial positions
        assert torch.allclose(o, f * g.view(*g.shape, *([1] * len(spatial))))


def test_gate_is_two_sigmoid_of_the_branch_head():
    """Joze et al. and REFERENCE section 2: gate_k = 2 * sigmoid(head_k(relu(squeeze(cat))))."""
    torch.manual_seed(0)
    mmtm = MMTM([4, 6])
    with torch.no_grad():  # biases that push some gates above 1 (a plain sigmoid never does)
        for head in mmtm.fc_excite:
            head.bias.fill_(1.0)
    a, b = torch.randn(3, 4, 5, 5), torch.randn(3, 6, 5, 5)
    hidden = torch.relu(mmtm.fc_squeeze(torch.cat([a.mean((2, 3)), b.mean((2, 3))], 1)))
    expected = [2 * torch.sigmoid(mmtm.fc_excite[k](hidden)) for k in range(2)]
    gates = mmtm.gates([a, b])
    for k in range(2):
        assert torch.allclose(gates[k], expected[k])
    assert bool((gates[0] > 1).any())
    assert torch.allclose(mmtm([a, b])[1], b * expected[1][:, :, None, None])


def test_lnl_convnet_is_kim_et_al_four_layer_net():
    model = build_model("lnl_convnet", [3, 1], 10, [32, 32, 64, 64], [2, 3, 4])
    branch = model.branches[0]
    first = branch.stages[0]
    assert isinstance(first[0], torch.nn.BatchNorm2d) and first[0].num_features == 3  # input BN
    assert first[1].kernel_size == (5, 5) and first[1].padding == (2, 2)
    assert isinstance(first[3], torch.nn.MaxPool2d) and first[3].kernel_size == 3 and first[3].stride == 2
    # no BatchNorm between the convolutions
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in branch.modules()) == 1
    convs = [m for m in branch.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 32, 64, 64]
    assert [c.stride for c in convs] == [(1, 1), (1, 1), (2, 2), (1, 1)]
    # spatial sizes 28 -> 14 -> 14 -> 7 -> 7; MMTM after conv 2, 3, 4
    x = torch.rand(2, 3, 28, 28)
    sizes = []
    for stage in branch.stages:
        x = stage(x)
        sizes.append(tuple(x.shape[1:]))
    assert sizes == [(32, 14, 14), (32, 14, 14), (64, 7, 7), (64, 7, 7)]
    assert [m.channels for m in model.fusions.values()] == [[32, 32], [64, 64], [64, 64]]
    assert branch.head.fc.in_features == 64 and branch.head.fc.out_features == 10
    logits = model([torch.rand(4, 3, 28, 28), torch.rand(4, 1, 28, 28)])
    assert [l.shape for l in logits] == [(4, 10), (4, 10)]
    with pytest.raises(ValueError, match="four conv layers"):
        build_model("lnl_convnet", [1], 10, [32, 64], [2])


def test_mmtm_gates_depend_on_every_branch():
    torch.manual_seed(0)
    mmtm = MMTM([4, 6])
    a, b = torch.randn(2, 4, 5, 5), torch.randn(2, 6, 5, 5)
    g0 = mmtm.gates([a, b])[0]
    g0_other = mmtm.gates([a, torch.randn(2, 6, 5, 5)])[0]
    assert not torch.allclose(g0, g0_other)


def test_model_outputs_and_prediction():
    model = build_model("cmnist_convnet", [3, 1], 10, [4, 8, 8, 8], [2, 3, 4])
    logits = model([torch.rand(5, 3, 28, 28), torch.rand(5, 1, 28, 28)])
    assert len(logits) == 2 and all(l.shape == (5, 10) for l in logits)
    assert torch.allclose(model.predict(logits), (logits[0] + logits[1]) / 2)
    assert sorted(model.fusions) == ["2", "3", "4"]
    assert [m.channels for m in model.fusions.values()] == [[8, 8], [8, 8], [8, 8]]


def test_unimodal_model_has_se_blocks_at_the_same_places():
    model = build_model("cmnist_convnet", [1], 10, [4, 8, 8, 8], [2, 3, 4])
    assert [m.channels for m in model.fusions.values()] == [[8], [8], [8]]
    assert model([torch.rand(2, 1, 28, 28)])[0].shape == (2, 10)


def test_unknown_architecture_and_bad_fusion_stage_are_named():
    with pytest.raises(ValueError, match="resnet50"):
        build_model("resnet50", [3, 1], 10, [4, 8, 8, 8], [2])
    with pytest.raises(ValueError, match="fusion_after"):
        build_model("cmnist_convnet", [3, 1], 10, [4, 8, 8, 8], [5])


def test_speed_groups_follow_the_definition():
    model = build_model("cmnist_convnet", [3, 1], 10, [4, 8, 8, 8], [2, 3, 4])
    groups = {k: {id(p) for p in v} for k, v in model.speed_groups().items()}
    assert set(groups) == {"theta0", "theta1", "theta0'", "theta1'"}
    assert groups["theta0"] == {id(p) for p in model.branches[0].parameters()}
    assert groups["theta1"] == {id(p) for p in model.branches[1].parameters()}
    shared = {id(p) for m in model.fusions.values() for p in m.fc_squeeze.parameters()}
    head0 = {id(p) for m in model.fusions.values() for p in m.fc_excite[0].parameters()}
    head1 = {id(p) for m in model.fusions.values() for p in m.fc_excite[1].parameters()}
    assert groups["theta0'"] == shared | head0
    assert groups["theta1'"] == shared | head1
    # classifier and BatchNorm of a branch are in its group
    assert id(model.branches[0].head.fc.weight) in groups["theta0"]
    assert id(model.branches[1].stages[0][1].weight) in groups["theta1"]
    everything = {id(p) for p in model.parameters()}
    assert groups["theta0"] | groups["theta1"] | groups["theta0'"] | groups["theta1'"] == everything


def test_resnet18_branches_with_mmtm_after_layer2_3_4():
    """ModelNet40's network: torchvision ResNet18 per view, MMTM after layer2, layer3, layer4."""
    from torchvision.models import resnet18
    model = build_model("resnet18", [3, 3], 40, [64, 128, 256, 512], [2, 3, 4])
    assert [m.channels for m in model.fusions.values()] == [[128, 128], [256, 256], [512, 512]]
    reference = sum(p.numel() for p in resnet18(weights=None, num_classes=40).parameters())
    branch = sum(p.numel() for p in model.branches[0].parameters())
    assert branch == reference  # the whole torchvision network, classifier included
    logits = model([torch.randn(2, 3, 64, 64), torch.randn(2, 3, 64, 64)])
    assert [tuple(l.shape) for l in logits] == [(2, 40), (2, 40)]
    three = build_model("resnet18", [3, 3, 3], 40, [64, 128, 256, 512], [2, 3, 4])
    assert [m.channels for m in three.fusions.values()] == [[128] * 3, [256] * 3, [512] * 3]
    with pytest.raises(ValueError, match="resnet18"):
        build_model("resnet18", [3, 3], 40, [32, 64, 128, 256], [2, 3, 4])
