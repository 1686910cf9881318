"""What the tests share: where things are, running a command in a project, fresh clones and
copies, and the one smoke DAG of a test session. Test modules import from here, never from
each other.
"""
import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SUBSET_ROOT = REPO / "data" / "mnist-subset"
SHARED_MNIST_ROOT = REPO.parent / "shared" / "data"
SMOKE = "config/smoke.yaml"
GIT = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.invalid"]
# The project's own files, for a copy with no ../shared and no git beside it.
PROJECT_FILES = ["Snakefile", "workflow", "params.yaml", "config", "dvc.yaml", ".dvcignore",
                 "src", "data/mnist-subset"]


def env_for(project: Path) -> dict:
    """The project imports its own `src/` (PYTHONPATH), as `pip install -e .` in it would,
    without re-pointing the shared virtual environment."""
    pythonpath = os.pathsep.join(p for p in (str(Path(project) / "src"), os.environ.get("PYTHONPATH")) if p)
    identity = {f"GIT_{who}_{what}": value for who in ("AUTHOR", "COMMITTER")
                for what, value in (("NAME", "ci"), ("EMAIL", "ci@example.invalid"))}
    return {**identity, **os.environ, "PYTHONPATH": pythonpath, "PYTHONHASHSEED": "0"}


def run(cmd, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env_for(cwd))
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({result.returncode}):\n"
                             f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def git_clone(source: Path, dest: Path) -> Path:
    """`git clone` of the committed HEAD; the default DVC remote is ../greedy-dvc-storage."""
    subprocess.run(["git", "clone", "--quiet", str(source), str(dest)], check=True)
    return dest


def copy_project(dest: Path) -> Path:
    """The project's own files (committed or not) in a fresh folder, with no ../shared beside it."""
    for name in PROJECT_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def use_smoke_overlay(project: Path) -> None:
    """What the README ("DVC") tells a user to do: set dvc.overlay in params.yaml."""
    params = project / "params.yaml"
    text = params.read_text()
    assert "  overlay: params.yaml\n" in text
    params.write_text(text.replace("  overlay: params.yaml\n", f"  overlay: {SMOKE}\n"))


def shared_smoke_repro(tmp_path_factory) -> dict:
    """The one smoke DAG of a test session: `dvc repro` on a fresh clone, made once and read by
    every end-to-end test that only reads results.
    {"project": clone, "output": dvc repro's output, "reference": copy of results/cmnist/*.csv}."""
    base = tmp_path_factory.getbasetemp() / "dvc-smoke"
    project, reference, log = base / "clone", base / "reference", base / "repro.log"
    if not (base / ".done").exists():
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir()
        git_clone(REPO, project)
        assert not (base / "shared").exists() and not (project.parent / "shared").exists()
        use_smoke_overlay(project)
        result = run(["dvc", "repro"], project)
        log.write_text(result.stdout + result.stderr)
        shutil.copytree(project / "results" / "cmnist", reference)  # CMNIST's study CSVs
        (base / ".done").touch()
    return {"project": project, "output": log.read_text(), "reference": reference}


def copy_of_smoke(tmp_path_factory, dest: Path, remove=()) -> Path:
    """A copy of the session's finished smoke clone (shared_smoke_repro) at `dest`, file times
    kept, so Snakemake finds every output current; without DVC's cache. `remove`: paths (run
    folders, study CSVs; relative to the project) deleted from the copy. A run folder deleted with
    the study CSV that collects it is trained again, with its evaluation, by the next Snakemake run
    that asks for that CSV (an existing CSV is not remade for a missing input). A test that needs
    a few trainings of the smoke configuration pays for those, not for the whole DAG."""
    source = shared_smoke_repro(tmp_path_factory)["project"]
    dvc_state = source / ".dvc"

    def skip_dvc_cache(folder, names):  # DVC's cache and temporary files only, not results' "tmp"
        return [n for n in names if Path(folder) == dvc_state and n in ("cache", "tmp")]

    shutil.copytree(source, dest, symlinks=True, ignore=skip_dvc_cache)
    for path in remove:
        path = dest / path
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return dest


def smoke_runs(project: Path, dataset: str, study: str) -> list[str]:
    """Run folders (relative to the project) of one study of a finished smoke project, sorted."""
    root = project / "results" / "runs" / dataset
    return sorted(str(p.parent.relative_to(project)) for p in (root / study).glob("*/*/status.json"))


def scheduled_jobs(snakemake_command, project: Path) -> dict:
    """rule -> number of jobs that `snakemake_command` would run (its dry run), "all" excluded."""
    result = run([*snakemake_command, "-n", "--quiet", "rules"], project)
    counts = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("total", "job", "all"):
            counts[parts[0]] = int(parts[1])
    return counts
