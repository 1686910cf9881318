"""dvc.yaml is derived (`greedy dvc-yaml`, src/greedy/dvcfile.py), never edited by hand: the committed
file is what params.yaml, the artifact registry and the code's imports give."""
import pytest
import yaml

from greedy import dvcfile
from greedy.config import load_params
from greedy.render.registry import ARTIFACTS

from helpers import REPO

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def generated():
    return dvcfile.dvc_yaml(load_params([REPO / "params.yaml"]))


def test_committed_dvc_yaml_is_the_generated_one(generated):
    committed = (REPO / "dvc.yaml").read_text()
    assert committed == generated, "dvc.yaml is not current: run `greedy dvc-yaml` and commit dvc.yaml"


def test_every_rendered_file_is_an_output_of_one_stage(generated):
    """Each artifact's files (from the registry) are outputs or metrics of exactly one stage, and the
    index stage depends on every artifact's meta.json."""
    stages = yaml.safe_load(generated)["stages"]
    owner = {}
    for name, stage in stages.items():
        for item in stage.get("outs", []) + stage.get("metrics", []):
            path = item if isinstance(item, str) else next(iter(item))
            assert path not in owner, (path, owner.get(path), name)
            owner[path] = name
    params = load_params([REPO / "params.yaml"])
    for artifact in ARTIFACTS.values():
        for dataset in artifact.instances(params["datasets"], params["studies"]):
            for dest in artifact.outputs:
                assert f"results/{artifact.path(dest, dataset)}" in owner, (artifact.id, dest)
            assert f"results/{artifact.path('meta', dataset)}" in stages["results_index"]["deps"]


def test_code_deps_follow_the_imports():
    study = dvcfile.code_deps(*dvcfile.STUDY_CODE)
    assert {"src/greedy/train.py", "src/greedy/models.py", "src/greedy/i3d.py", "src/greedy/render",
            "src/greedy/data"} <= set(study)  # i3d: named for importlib by models.py
    assert not {"src/greedy/benchmark.py", "src/greedy/cost.py", "src/greedy/dvcfile.py"} & set(study)
    render = dvcfile.code_deps(*dvcfile.RENDER_CODE, lazy=False)
    assert "src/greedy/render" in render and "src/greedy/train.py" not in render
