import subprocess
import sys

import pytest
import yaml

from greedy.config import ParamsError, deep_merge, load_params, validate

from helpers import REPO

# The smoke overlay may shrink sizes or point at the shipped data, and may retune the few knobs its
# header comment names and justifies (short runs need smaller batches, another learning rate and
# LNL's colour variance to show the paper's effect; ModelNet40 from its fixture on the small LNL
# net); it never switches another code path (palette, method, schedule).
SIZE_KEYS = {"mnist_root", "root", "train_size", "test_size", "channels", "eval_batch_size",
             "max_epochs", "runs", "num_lrs", "lrs", "lambdas", "rebalance_steps", "alpha_fractions",
             "threads", "mem_mb", "runtime", "gpu", "size", "frames", "crop"}
DOCUMENTED_KNOBS = {"color_variance": "colour variance", "batch_size": "batches",
                    "lr": "learning rate", "lr_min": "learning rate", "lr_max": "learning rate",
                    "source": "fixture", "architecture": "LNL net",
                    "methods": "ablation", "variants": "ablation"}


def _leaves(tree, prefix=()):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, prefix + (key,))
        else:
            yield prefix + (key,)


def test_params_and_smoke_overlay_are_valid():
    full = load_params([REPO / "params.yaml"])
    smoke = load_params([REPO / "params.yaml", REPO / "config" / "smoke.yaml"])
    assert full["studies"]["cmnist"]["sweep"]["num_lrs"] == 20
    assert smoke["training"]["cmnist"]["momentum"] == full["training"]["cmnist"]["momentum"]


def test_smoke_overlay_shrinks_sizes_and_changes_only_documented_knobs():
    text = (REPO / "config" / "smoke.yaml").read_text()
    header = " ".join(line.lstrip("# ") for line in text.splitlines() if line.startswith("#"))
    overlay = yaml.safe_load(text)
    full = load_params([REPO / "params.yaml"])
    for path in _leaves(overlay):
        if path[-1] in DOCUMENTED_KNOBS:
            assert DOCUMENTED_KNOBS[path[-1]] in header, f"{path} changed without a reason in the header"
            continue
        assert path[-1] in SIZE_KEYS, path
        value, reference = overlay, full
        for key in path:
            value, reference = value[key], reference[key]
        if isinstance(value, (int, float)) and isinstance(reference, (int, float)):
            assert value <= reference, path


def test_unknown_key_is_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("training:\n  cmnist:\n    learning_rate: 0.1\n")
    with pytest.raises(ParamsError) as error:
        load_params([REPO / "params.yaml", bad])
    assert "training.cmnist" in str(error.value) and "learning_rate" in str(error.value)
    assert "bad.yaml" in str(error.value)


def test_wrong_type_is_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("studies:\n  cmnist:\n    sweep:\n      runs: four\n")
    with pytest.raises(ParamsError, match=r"studies\.cmnist\.sweep\.runs"):
        load_params([REPO / "params.yaml", bad])
    params = load_params([REPO / "params.yaml"])
    with pytest.raises(ParamsError, match="data.cmnist.validation"):
        validate(deep_merge(params, {"data": {"cmnist": {"validation": "train"}}}))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ParamsError, match="nope.yaml"):
        load_params([tmp_path / "nope.yaml"])


def test_cli_reports_bad_params_without_a_traceback_of_training(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: -1\n")
    result = subprocess.run([sys.executable, "-m", "greedy.cli", "train", "--params", str(REPO / "params.yaml"),
                             str(bad), "--modalities", "gray", "--lr", "0.1", "--seed", "0",
                             "--run-dir", str(tmp_path / "run")], capture_output=True, text=True)
    assert result.returncode != 0 and "seed" in result.stderr
    assert not (tmp_path / "run").exists()
