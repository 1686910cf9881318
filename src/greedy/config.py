"""params.yaml: loading, overlaying, schema validation, and the per-run configuration.

The same JSON schema (workflow/schemas/params.schema.yaml) is used by Snakemake's `validate`
and by the entry points here, so a bad key is reported the same way everywhere.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Iterable

import jsonschema
import yaml

from greedy import procedure
from greedy.hashing import short_hash  # here too for callers of greedy.config.short_hash

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parents[1]
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "params.schema.yaml"


class ParamsError(ValueError):
    """A parameter file is invalid; the message names the file and the key."""


def deep_merge(base: dict, overlay: dict) -> dict:
    """Overlay `overlay` onto `base` key by key (as Snakemake merges --configfile overlays)."""
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _yaml_number_hint(value) -> str:
    """PyYAML reads `1e-2` (no dot before the exponent) as a string: say how to write the number."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return ""
        return f" (YAML reads {value} as a string: write {number!r} or {number:.1e})"
    return ""


def validate(params: dict, source: str = "params") -> dict:
    with open(SCHEMA_PATH) as f:
        schema = yaml.safe_load(f)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(params), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for error in errors:
            key = ".".join(str(p) for p in error.absolute_path) or "<top level>"
            lines.append(f"  {key}: {error.message}{_yaml_number_hint(error.instance)}")
        raise ParamsError(f"{source} does not match {SCHEMA_PATH.name}:\n" + "\n".join(lines))
    return params


def load_params(files: Iterable[str | Path] = ("params.yaml",)) -> dict:
    """Read params.yaml and optional overlays (later files win), then validate the result."""
    files = [Path(f) for f in files]
    params: dict = {}
    for path in files:
        if not path.exists():
            raise ParamsError(f"parameter file not found: {path}")
        with open(path) as f:
            loaded = yaml.safe_load(f) or {}
        if not isinstance(loaded, dict):
            raise ParamsError(f"{path}: top level must be a mapping, got {type(loaded).__name__}")
        params = deep_merge(params, loaded)
    return validate(params, source=" + ".join(str(f) for f in files))


def result_identity(config: dict) -> dict:
    """The part of a run configuration (run_config) that can change its results: everything but
    the device, the evaluation batch size, the checkpoint interval, compilation and paths (the data folder counts by its name, which is
    the hash of the data's identity). Thread counts and the results folder are never in it."""
    identity = copy.deepcopy(config)
    identity.pop("device", None)
    identity.get("training", {}).pop("eval_batch_size", None)
    identity.get("training", {}).pop("checkpoint_minutes", None)  # when last.pt is written, not what
    identity.get("training", {}).pop("compile", None)  # how the steps are computed, like the device
    identity.get("weights", {}).pop("path", None)  # pre-trained weights count by name and sha256
    if "data_dir" in identity:
        identity["data_dir"] = Path(identity["data_dir"]).name
    # the official-code switches count where they differ from the paper's text (procedure.py)
    switches = procedure.differences(identity.pop("procedure", {}))
    if switches:
        identity["procedure"] = switches
    return identity


def run_hash(config: dict, length: int = 8) -> str:
    """Hash of a run configuration's result identity: names run folders (studies.run_id) and is
    the trainer's config_hash. Changing the device, a path or eval_batch_size keeps it."""
    return short_hash(result_identity(config), length)


def run_config(params: dict, dataset: str, modalities: list[str], lr: float, seed: int,
               method: str = "vanilla", l1: float | None = None, method_overrides: dict | None = None) -> dict:
    """Everything one training run depends on, as one JSON-serialisable dict. `method_overrides`
    replaces some of the method's parameters (the sensitivity studies' Q and α)."""
    from greedy.data import DATASETS, data_dir
    if dataset not in DATASETS:
        raise ParamsError(f"data set {dataset!r} is not registered (greedy/data/__init__.py): {list(DATASETS)}")
    training = dict(params["training"][dataset])
    if l1 is not None:
        training["l1"] = l1
    # Only this method's own section: a guided parameter never renames a random run.
    method_params = dict(params.get("methods", {}).get(dataset, {}).get(method, {}))
    if method in ("guided", "random", "rubi", "gradient_blending") and not method_params:
        raise ParamsError(f"methods.{dataset}.{method} is needed for method {method}")
    method_params.update(method_overrides or {})
    model = {k: v for k, v in params["models"][dataset].items() if not (k == "pretrained" and v is None)}
    weights = {}
    if model.get("pretrained"):
        if model["pretrained"] not in params.get("weights", {}):
            raise ParamsError(f"models.{dataset}.pretrained: {model['pretrained']!r} is not under weights:")
        weights = {"weights": {"name": model["pretrained"], **params["weights"][model["pretrained"]]}}
        weights["weights"].pop("url", None)
    return {
        "dataset": dataset,
        "data_dir": str(data_dir(params, dataset)),
        "modalities": list(modalities),
        "model": model,
        **weights,
        "training": training,
        "lr": float(lr),
        "seed": int(seed),
        "method": method,
        "method_params": method_params,
        # where the paper's text and the official code differ (procedure.py): every switch's value
        "procedure": procedure.resolve(params.get("procedure", {}).get(dataset), f"procedure.{dataset}"),
        "device": params["device"],
    }
