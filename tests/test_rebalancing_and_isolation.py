import pytest
import torch

from greedy.models import build_model

pytestmark = pytest.mark.unit


def _model_and_inputs(seed=0):
    torch.manual_seed(seed)
    model = build_model("cmnist_convnet", [3, 1], 10, [4, 8, 8, 8], [2, 3, 4])
    x0, x1 = torch.rand(6, 3, 28, 28), torch.rand(6, 1, 28, 28)
    return model, x0, x1


def test_gate_running_mean_counts_regular_training_passes_only():
    model, x0, x1 = _model_and_inputs()
    mmtm = model.fusions["3"]
    model.train()
    # record the gates of two regular passes by hand
    gates_seen = []
    handle = mmtm.register_forward_pre_hook(
        lambda m, args: gates_seen.append([g.detach().clone() for g in m.excite([m.squeeze(f) for f in args[0]])]))
    model([x0, x1])
    model([x0[:3], x1[:3]])
    handle.remove()
    expected = [torch.cat([gates_seen[0][k], gates_seen[1][k]]).mean(0) for k in range(2)]
    assert mmtm.gate_count.item() == 9
    for k in range(2):
        assert torch.allclose(mmtm.mean_gate(k), expected[k], atol=1e-6)
    # evaluation passes and re-balancing steps leave the running means untouched
    model.eval()
    model([torch.rand(4, 3, 28, 28), torch.rand(4, 1, 28, 28)])
    model.train()
    with model.rebalancing(0):
        model([torch.rand(4, 3, 28, 28), torch.rand(4, 1, 28, 28)])
    assert mmtm.gate_count.item() == 9
    for k in range(2):
        assert torch.allclose(mmtm.mean_gate(k), expected[k], atol=1e-6)


def test_rebalancing_step_cuts_branch0_off_from_m1():
    model, x0, x1 = _model_and_inputs()
    model.train()
    model([x0, x1])  # one regular pass so that gate means exist
    other_x1 = torch.rand_like(x1)
    model.eval()  # fixed BatchNorm statistics, so only the gating can make a difference
    regular = model([x0, x1])[0]
    regular_other = model([x0, other_x1])[0]
    assert not torch.allclose(regular, regular_other), "regular step: branch 0 sees m1"
    with model.rebalancing(0):
        rebalanced = model([x0, x1])
        rebalanced_other = model([x0, other_x1])
    assert torch.equal(rebalanced[0], rebalanced_other[0]), "re-balancing m0: branch 0 ignores m1"
    assert not torch.allclose(rebalanced[1], rebalanced_other[1]), "branch 1 still fused"
    # the override is lifted when the context ends
    assert all(m.rebalance_branch is None for m in model.fusions.values())


def test_rebalancing_gate_is_the_running_mean():
    model, x0, x1 = _model_and_inputs()
    model.train()
    model([x0, x1])
    with model.rebalancing(1):
        for m in model.fusions.values():
            gates = m.gates([torch.rand(2, m.channels[0], 3, 3), torch.rand(2, m.channels[1], 3, 3)])
            assert torch.allclose(gates[1], m.mean_gate(1).expand(2, -1))


def test_rebalancing_step_updates_every_parameter_but_the_replaced_gate_heads():
    """A re-balancing step for m0 still updates all parameters (Algorithm 1), except branch 0's
    excite heads, whose output is replaced by a constant in that step."""
    model, x0, x1 = _model_and_inputs()
    model.train()
    model([x0, x1])
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    optimizer.zero_grad()
    with model.rebalancing(0):
        loss = sum(torch.nn.functional.cross_entropy(l, torch.arange(6) % 10) for l in model([x0, x1]))
    loss.backward()
    optimizer.step()
    frozen = {f"fusions.{s}.fc_excite.0.{p}" for s in model.fusions for p in ("weight", "bias")}
    for name, p in model.named_parameters():
        moved = not torch.equal(p.detach(), before[name])
        assert moved == (name not in frozen), name


def test_isolated_branches_depend_on_their_own_modality_only():
    model, x0, x1 = _model_and_inputs()
    model.eval()
    means = {name: [torch.rand(c) for c in m.channels] for name, m in model.fusions.items()}
    with model.isolated(means):
        out = model([x0, x1])
        out_other1 = model([x0, torch.rand_like(x1)])
        out_other0 = model([torch.rand_like(x0), x1])
    assert torch.equal(out[0], out_other1[0])
    assert torch.equal(out[1], out_other0[1])
    assert not torch.allclose(out[0], out_other0[0])
    # with the true squeeze vectors as "means" of a single sample, isolation changes nothing
    single0, single1 = x0[:1], x1[:1]
    recorded = {}
    handles = [m.register_forward_pre_hook(
        lambda mod, args, name=name: recorded.__setitem__(name, [mod.squeeze(f)[0] for f in args[0]]))
        for name, m in model.fusions.items()]
    fused = model([single0, single1])
    for h in handles:
        h.remove()
    with model.isolated(recorded):
        isolated = model([single0, single1])
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(fused, isolated))
