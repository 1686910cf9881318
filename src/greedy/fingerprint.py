"""The training code's fingerprint: which source files decide a training run's results, and a
hash of what their code does (comments, docstrings and layout ignored). The trainer stores it in
last.pt and status.json and never resumes or reuses a run that other training code wrote; the
train rule takes the same files as inputs, so Snakemake reruns exactly the runs they decide.
"""
from __future__ import annotations

import ast
import hashlib
from pathlib import Path

from greedy.data import code_files, dataset_module

PACKAGE_DIR = Path(__file__).resolve().parent

# The source files whose code decides a training run's results, relative to the package.
# config.py is not among them: what it computes is the run configuration, which run_hash covers.
# compiling.py: a compiled run's numerics (its max-pool operator) are decided there.
TRAINING_CODE = ("checkpoint.py", "compiling.py", "evaluation.py", "methods.py", "mmtm.py", "models.py", "speed.py",
                 "train.py")


def data_code_files(dataset: str, package_dir: str | Path = PACKAGE_DIR) -> list[Path]:
    """The data set's own source files (greedy.data.code_files): editing another data set's
    module retrains nothing here."""
    package_dir = Path(package_dir)
    return [package_dir / name for name in code_files(dataset) if (package_dir / name).exists()]


def training_code_files(package_dir: str | Path = PACKAGE_DIR, dataset: str = "cmnist") -> list[Path]:
    """TRAINING_CODE, the data set's data code, and its architecture's own module (MODEL_CODE of
    the data module, e.g. i3d.py for NVGesture: editing it retrains NVGesture runs only)."""
    package_dir = Path(package_dir)
    model_code = getattr(dataset_module(dataset), "MODEL_CODE", ())
    return ([package_dir / name for name in (*TRAINING_CODE, *model_code)]
            + data_code_files(dataset, package_dir))


def _code_only(source: str) -> str:
    """The syntax tree without comments, docstrings or layout: what the interpreter runs."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def training_code_fingerprint(package_dir: str | Path = PACKAGE_DIR, dataset: str = "cmnist") -> str:
    """sha256 over the training code (TRAINING_CODE), comments and docstrings ignored. The
    trainer stores it in last.pt and status.json and never resumes or reuses a run that other
    training code wrote; it is not part of the run id (a code change retrains in place)."""
    package_dir = Path(package_dir)
    digest = hashlib.sha256()
    for path in training_code_files(package_dir, dataset):
        digest.update(path.relative_to(package_dir).as_posix().encode() + b"\0")
        digest.update(_code_only(path.read_text()).encode() + b"\0")
    return digest.hexdigest()[:16]
