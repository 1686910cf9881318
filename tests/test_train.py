import json

import pandas as pd
import pytest
import torch

from greedy import fileio
from greedy.train import train
from greedy.utilization import evaluate_run

pytestmark = pytest.mark.unit


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
    assert fileio.read_json(tmp_path / "run" / "status.json")["status"] == "diverged"
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
    summary = train(config, tmp_path / "run")
    assert summary["epochs_run"] == 2 and summary["stopped_by"] == "perfect_train"
    assert summary["reached_perfect_train"] and summary["first_perfect_epoch"] == 1


def test_run_that_hits_the_epoch_cap_says_so(tiny_config, tmp_path):
    summary = train(tiny_config(max_epochs=1), tmp_path / "run")
    assert summary["stopped_by"] == "epoch_cap" and not summary["reached_perfect_train"]


def test_plateau_schedule_lowers_the_learning_rate(tiny_config, tmp_path, monkeypatch):
    """ReduceLROnPlateau on the training loss (official configuration: factor 0.3, patience 10);
    here patience 0 and a training loss that never improves."""
    import greedy.train as trainer
    real = trainer.train_one_epoch
    monkeypatch.setattr(trainer, "train_one_epoch", lambda *a, **k: {**real(*a, **k), "loss": 1.0})
    config = tiny_config(max_epochs=3)
    config["training"]["lr_schedule"] = {"name": "plateau", "factor": 0.3, "patience": 0}
    train(config, tmp_path / "run")
    lrs = pd.read_csv(tmp_path / "run" / "metrics.csv")["lr"].tolist()
    # the learning rate each epoch ran with: the first epoch sets the best loss, the next
    # does not improve on it, so the third runs at 0.3x
    assert lrs == pytest.approx([0.05, 0.05, 0.015])


def test_unimodal_run_and_utilization(tiny_config, tmp_path):
    summary = train(tiny_config(modalities=["gray"]), tmp_path / "gray")
    assert summary["status"] == "completed" and len(summary["test_acc_branches"]) == 1
    assert not (tmp_path / "gray" / "speed.csv").exists()
    result = evaluate_run(tmp_path / "gray")
    assert result["d_util"] is None and 0 <= result["test_acc"] <= 1


def test_utilization_json_against_an_independent_computation(tiny_config, tmp_path):
    """A(f_k) and A(f_k') recomputed here by hand: the squeeze means over the *training* split
    (mean of the pooled feature maps entering each MMTM), branch k run with the other branch's
    squeeze vectors replaced by them, then u and d_util from the definition."""
    from greedy.models import MMTM
    from greedy.evaluation import build_for_config, splits_for_config
    config = tiny_config()
    train(config, tmp_path / "run")
    result = evaluate_run(tmp_path / "run")
    assert json.loads((tmp_path / "run" / "utilization.json").read_text())["d_util"] == pytest.approx(result["d_util"])

    splits = splits_for_config(config)
    model = build_for_config(config, splits, "cpu")
    model.load_state_dict(torch.load(tmp_path / "run" / "best.pt", weights_only=False)["model"])
    model.eval()
    sums, count = {}, 0
    hooks = [m.register_forward_pre_hook(lambda mod, args, name=name: sums.__setitem__(
        name, [s + MMTM.squeeze(f).sum(0) for s, f in zip(sums.get(name, [0, 0]), args[0])]))
        for name, m in model.fusions.items()]
    with torch.no_grad():
        for inputs, labels in splits.train_eval:
            model(inputs)
            count += len(labels)
    for h in hooks:
        h.remove()
    assert count == 384  # the training split only (tiny data: 384 training, 128 test digits)
    means = {name: [s / count for s in vectors] for name, vectors in sums.items()}

    def branch_accuracies(isolated: bool):
        correct, n = torch.zeros(2), 0
        with torch.no_grad():
            for inputs, labels in splits.test:
                if isolated:
                    with model.isolated(means):
                        logits = model(inputs)
                else:
                    logits = model(inputs)
                correct += torch.tensor([float((l.argmax(1) == labels).sum()) for l in logits])
                n += len(labels)
        return (correct / n).tolist()

    fused, alone = branch_accuracies(False), branch_accuracies(True)
    assert [result["A_f0"], result["A_f1"]] == pytest.approx(fused)
    assert [result["A_f0_isolated"], result["A_f1_isolated"]] == pytest.approx(alone)
    u10 = (fused[0] - alone[0]) / fused[0]
    u01 = (fused[1] - alone[1]) / fused[1]
    assert result["d_util"] == pytest.approx(u10 - u01)
    assert result["R"] == 0.0
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=False)
    assert result["d_speed"] == best["d_speed"]
    assert result["test_acc"] == pytest.approx(best["test"]["acc"])


def test_squeeze_means_come_from_the_training_split_only(tiny_config, tmp_path, monkeypatch):
    import greedy.utilization as utilization
    seen = []
    real = utilization.squeeze_means

    def recording(model, batches, device):
        seen.append(sum(len(labels) for _, labels in batches))
        return real(model, batches, device)
    monkeypatch.setattr(utilization, "squeeze_means", recording)
    train(tiny_config(), tmp_path / "run")
    evaluate_run(tmp_path / "run")
    assert seen == [384]  # 384 training digits; the 128 test (= validation) digits are not used


def test_l1_penalty_shrinks_weights(tiny_config, tmp_path):
    plain = tiny_config()
    sparse = tiny_config()
    sparse["training"]["l1"] = 1e-2
    train(plain, tmp_path / "plain")
    train(sparse, tmp_path / "sparse")
    norm = lambda run: sum(v.abs().sum().item() for k, v in fileio.torch_load_verified(
        tmp_path / run / "last.pt")["model"].items() if "weight" in k)
    assert norm("sparse") < norm("plain")


def test_l1_norm_is_the_sum_of_absolute_parameters():
    from greedy.train import l1_norm
    model = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[-1.5, 2.0]]))
        model.bias.fill_(-0.25)
    assert l1_norm(model).item() == pytest.approx(3.75)
