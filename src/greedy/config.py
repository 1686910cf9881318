"""params.yaml: loading, overlaying, schema validation, and the per-run configuration.

The same JSON schema (workflow/schemas/params.schema.yaml) is used by Snakemake's `validate`
and by the entry points here, so a bad key is reported the same way everywhere.
"""
from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
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


def validate(params: dict, source: str = "params") -> dict:
    with open(SCHEMA_PATH) as f:
        schema = yaml.safe_load(f)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(params), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for error in errors:
            key = ".".join(str(p) for p in error.absolute_path) or "<top level>"
            lines.append(f"  {key}: {error.message}")
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


def short_hash(obj: Any, length: int = 8) -> str:
    """Stable short hash of a JSON-serialisable object (used in parameter-dependent paths)."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def cmnist_data_dir(params: dict) -> Path:
    """Prepared-data folder; its name carries a hash of the parameters that shape the data."""
    data = params["data"]["cmnist"]
    return Path(data["out_dir"]) / short_hash(data)


def run_config(params: dict, dataset: str, modalities: list[str], lr: float, seed: int,
               method: str = "vanilla", l1: float | None = None) -> dict:
    """Everything one training run depends on, as one JSON-serialisable dict."""
    training = dict(params["training"][dataset])
    if l1 is not None:
        training["l1"] = l1
    # Only this method's own section: a guided parameter never renames a random run.
    method_params = dict(params.get("methods", {}).get(dataset, {}).get(method, {}))
    if method in ("guided", "random", "rubi", "gradient_blending") and not method_params:
        raise ParamsError(f"methods.{dataset}.{method} is needed for method {method}")
    if dataset != "cmnist":
        raise ParamsError(f"data set {dataset!r} is not in the pipeline yet (only 'cmnist')")
    return {
        "dataset": dataset,
        "data_dir": str(cmnist_data_dir(params)),
        "modalities": list(modalities),
        "model": dict(params["models"][dataset]),
        "training": training,
        "lr": float(lr),
        "seed": int(seed),
        "method": method,
        "method_params": method_params,
        "device": params["device"],
    }
