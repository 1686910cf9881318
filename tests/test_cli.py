"""The one command line: `greedy` and its subcommands."""
import json
import shutil
import subprocess
import sys
import tomllib

import pandas as pd
import pytest

from greedy import cli

from helpers import REPO

SUBCOMMANDS = ["prepare", "train", "utilization", "collect", "sweep-lrs", "expected-d-util", "render", "report",
               "index", "benchmark", "diagnose", "measured", "dvc-yaml"]


def greedy(*args):
    """The installed console script when there is one, else the module it points at."""
    command = [shutil.which("greedy")] if shutil.which("greedy") else [sys.executable, "-m", "greedy.cli"]
    return subprocess.run(command + list(args), capture_output=True, text=True, cwd=REPO)


def test_greedy_help_lists_every_subcommand():
    result = greedy("--help")
    assert result.returncode == 0, result.stderr
    for name in SUBCOMMANDS:
        assert f"\n    {name}" in result.stdout, name


def test_pyproject_declares_only_the_greedy_script():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"greedy": "greedy.cli:main"}


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main([name, "--help"])
    assert exit.value.code == 0
    assert "usage: greedy " + name in capsys.readouterr().out


def test_render_lists_the_registry(capsys):
    from greedy.render import ARTIFACTS
    with pytest.raises(SystemExit):
        cli.main(["render", "--help"])
    out = capsys.readouterr().out
    assert set(ARTIFACTS) == {"unimodal", "fig7", "methods_cmnist", "dspeed", "table1", "fig2a", "fig5a", "figlr",
                              "fig3", "fig4", "fig8", "fig9a", "fig9b", "views", "fig2b", "fig5b", "ablation"}
    for name in ARTIFACTS:
        assert name in out


def test_params_files_flag_is_the_same_everywhere():
    parser = cli.build_parser()
    for name in ("prepare", "train", "benchmark", "sweep-lrs"):
        args = parser.parse_args([name, "--params", "params.yaml", "config/smoke.yaml"]
                                 + {"train": ["--run-dir", "x"], "sweep-lrs": ["--out", "x.csv"]}.get(name, []))
        assert args.params == ["params.yaml", "config/smoke.yaml"], name


def test_sweep_lrs_writes_the_sweep_learning_rates(tmp_path, params):
    from greedy.studies import sweep_learning_rates
    out = tmp_path / "lrs.csv"
    cli.main(["sweep-lrs", "--params", str(REPO / "params.yaml"), str(REPO / "config" / "smoke.yaml"),
              "--out", str(out)])
    assert pd.read_csv(out)["lr"].tolist() == pytest.approx(sweep_learning_rates(params))


def test_bad_params_end_with_a_message_not_a_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: -1\n")
    result = greedy("train", "--params", "params.yaml", str(bad), "--modalities", "gray", "--lr", "0.1",
                    "--seed", "0", "--run-dir", str(tmp_path / "run"))
    assert result.returncode != 0 and "seed" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_train_by_run_id_uses_the_studies_configuration(params, tmp_path, monkeypatch):
    """`greedy train --run-id` (as the Snakemake rule calls it) trains exactly the run the
    studies enumerate under that id."""
    import greedy.train as trainer
    from greedy.studies import study_runs
    seen = {}
    monkeypatch.setattr(trainer, "train", lambda config, run_dir, progress=False: seen.update(config=config) or
                        {"status": "completed", "epochs_run": 1, "stopped_by": "epoch_cap", "best_epoch": 1,
                         "test_acc": 0.5})
    run_id, run = next(iter(study_runs(params, "cmnist").items()))
    cli.main(["train", "--run-id", run_id, "--params-json", json.dumps(params), "--run-dir", str(tmp_path)])
    assert seen["config"] == run["config"]
    with pytest.raises(SystemExit, match="no run"):
        cli.main(["train", "--run-id", "table1/x/y", "--params-json", json.dumps(params), "--run-dir", str(tmp_path)])


def test_parsing_the_workflow_loads_no_torch():
    """What Snakemake runs while it parses the Snakefile (every run's configuration and data
    folder, the code files of every data set) imports no torch, PyAV or PIL: torch alone takes
    seconds to import, paid by every Snakemake invocation and, on SLURM, by every job."""
    code = ("import sys; from greedy.config import load_params; from greedy.studies import study_runs; "
            "from greedy.fingerprint import training_code_files; from greedy.render.registry import ARTIFACTS; "
            "c = load_params(['params.yaml', 'config/smoke.yaml']); "
            "runs = [study_runs(c, d) for d in c['datasets']]; "
            "files = [training_code_files(dataset=d) for d in c['datasets']]; "
            "print(len(runs), sorted(m for m in ('torch', 'torchvision', 'av', 'PIL', 'matplotlib') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["3", "[]"], result.stdout
