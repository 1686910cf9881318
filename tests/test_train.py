import json

import pandas as pd
import pytest
import torch

from greedy import io
from greedy.train import train
from greedy.utilization import evaluate_run


class Interrupted(Exception):
    pass


def test_outputs_and_metrics(tiny_config, tmp_path):
    summary = train(tiny_config(), tmp_path / "run")
    assert summary["status"] == "completed" and summary["epochs_run"] == 2
    for name in ("config.json", "metrics.csv", "speed.csv", "steps.csv", "best.pt", "last.pt", "status.json", "train.log"):
        assert (tmp_path / "run" / name).exists(), name
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    for split in ("train", "val", "test"):
        for key in ("loss", "acc", "acc_b0", "acc_b1"):
            assert f"{split}_{key}" in metrics
    speed = pd.read_csv(tmp_path / "run" / "speed.csv")
    assert len(speed) == 2 * 6  # 384 digits / batch 64, two epochs, every step regular
    steps = pd.read_csv(tmp_path / "run" / "steps.csv")
    assert steps["step"].tolist() == speed["step"].tolist() == list(range(1, 13))
    assert (steps["kind"] == "regular").all()
    assert speed["M_theta0"].is_monotonic_increasing
    assert speed["d_speed"].iloc[-1] == pytest.approx(metrics["d_speed"].iloc[-1])
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=False)
    assert best["epoch"] == summary["best_epoch"]
    assert best["val"]["acc"] == metrics["val_acc"].max()


def test_same_seed_same_metrics_on_cpu(tiny_config, tmp_path):
    a = train(tiny_config(seed=5), tmp_path / "a")
    b = train(tiny_config(seed=5), tmp_path / "b")
    train(tiny_config(seed=6), tmp_path / "c")
    metrics = [pd.read_csv(tmp_path / r / "metrics.csv").drop(columns="seconds") for r in "abc"]
    pd.testing.assert_frame_equal(metrics[0], metrics[1])
    assert not metrics[0].equals(metrics[2])
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "a" / "speed.csv"),
                                  pd.read_csv(tmp_path / "b" / "speed.csv"))
    assert a["test_acc"] == b["test_acc"]


def test_resume_after_interruption_gives_the_same_result(tiny_config, tmp_path):
    config = tiny_config(max_epochs=3)
    straight = train(config, tmp_path / "straight")

    def kill_after_first_epoch(epoch):
        if epoch == 1:
            raise Interrupted

    with pytest.raises(Interrupted):
        train(config, tmp_path / "resumed", on_epoch_end=kill_after_first_epoch)
    assert not (tmp_path / "resumed" / "status.json").exists()
    assert len(pd.read_csv(tmp_path / "resumed" / "metrics.csv")) == 1
    resumed = train(config, tmp_path / "resumed")
    assert "resuming" in (tmp_path / "resumed" / "train.log").read_text()
    for key in ("test_acc", "best_epoch", "d_speed_at_best", "epochs_run"):
        assert resumed[key] == straight[key], key
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "straight" / "metrics.csv").drop(columns="seconds"),
        pd.read_csv(tmp_path / "resumed" / "metrics.csv").drop(columns="seconds"))
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "straight" / "speed.csv"),
                                  pd.read_csv(tmp_path / "resumed" / "speed.csv"))
    s = torch.load(tmp_path / "straight" / "best.pt", weights_only=False)["model"]
    r = torch.load(tmp_path / "resumed" / "best.pt", weights_only=False)["model"]
    assert all(torch.equal(s[k], r[k]) for k in s)


def test_finished_run_is_not_retrained_and_other_config_is_refused(tiny_config, tmp_path):
    first = train(tiny_config(), tmp_path / "run")
    again = train(tiny_config(), tmp_path / "run")
    assert again == first
    with pytest.raises(FileExistsError, match="another configuration"):
        train(tiny_config(lr=0.001), tmp_path / "run")


def test_diverged_run_is_recorded_not_raised(tiny_config, tmp_path):
    summary = train(tiny_config(lr=1e10), tmp_path / "run")
    assert summary["status"] == "diverged"
    assert summary["diverged_epoch"] == 0
    assert io.read_json(tmp_path / "run" / "status.json")["status"] == "diverged"
    result = evaluate_run(tmp_path / "run")
    assert result["status"] == "diverged" and result["d_util"] is None


def test_stops_once_training_accuracy_is_perfect(tiny_config, tmp_path, monkeypatch):
    import greedy.train as trainer
    real = trainer.train_one_epoch

    def perfect(*args, **kwargs):
        metrics = real(*args, **kwargs)
        return {**metrics, "acc": 1.0}
    monkeypatch.setattr(trainer, "train_one_epoch", perfect)
    config = tiny_config(max_epochs=5)
    config["training"]["stop_after_perfect_epochs"] = 2
    assert train(config, tmp_path / "run")["epochs_run"] == 2


def test_unimodal_run_and_utilization(tiny_config, tmp_path):
    summary = train(tiny_config(modalities=["gray"]), tmp_path / "gray")
    assert summary["status"] == "completed" and len(summary["test_acc_branches"]) == 1
    assert not (tmp_path / "gray" / "speed.csv").exists()
    result = evaluate_run(tmp_path / "gray")
    assert result["d_util"] is None and 0 <= result["test_acc"] <= 1


def test_utilization_json(tiny_config, tmp_path):
    train(tiny_config(), tmp_path / "run")
    result = evaluate_run(tmp_path / "run")
    stored = json.loads((tmp_path / "run" / "utilization.json").read_text())
    assert stored["d_util"] == pytest.approx(result["d_util"])
    u10 = (result["A_f0"] - result["A_f0_isolated"]) / result["A_f0"]
    u01 = (result["A_f1"] - result["A_f1_isolated"]) / result["A_f1"]
    assert result["d_util"] == pytest.approx(u10 - u01)
    assert -1 <= result["d_util"] <= 1 and result["R"] == 0.0
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=False)
    assert result["d_speed"] == best["d_speed"]
    assert result["test_acc"] == pytest.approx(best["test"]["acc"])


def test_l1_penalty_shrinks_weights(tiny_config, tmp_path):
    plain = tiny_config()
    sparse = tiny_config()
    sparse["training"]["l1"] = 1e-2
    train(plain, tmp_path / "plain")
    train(sparse, tmp_path / "sparse")
    norm = lambda run: sum(v.abs().sum().item() for k, v in torch.load(
        tmp_path / run / "last.pt", weights_only=False)["model"].items() if "weight" in k)
    assert norm("sparse") < norm("plain")


def test_l1_norm_is_the_sum_of_absolute_parameters():
    from greedy.train import l1_norm
    model = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[-1.5, 2.0]]))
        model.bias.fill_(-0.25)
    assert l1_norm(model).item() == pytest.approx(3.75)
