"""Bad input gets one line naming the culprit, and leaves nothing behind (README "Bad input")."""
import shutil
import subprocess
import threading
import time

import pytest

from greedy.data.mnist import MNISTCorrupt, MNISTMissing, fetch_mnist
from greedy.train import RunBusy, run_lock, train

from helpers import REPO, SHARED_MNIST_ROOT, SUBSET_ROOT


def greedy(*args, cwd=REPO):
    return subprocess.run(["greedy", *args], cwd=cwd, capture_output=True, text=True)


def test_a_truncated_mnist_archive_is_reported_corrupt_with_its_checksum(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    source = SHARED_MNIST_ROOT / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    if not source.exists():
        pytest.skip("the real MNIST archives are not beside the checkout")
    (raw / source.name).write_bytes(source.read_bytes()[:500])
    with pytest.raises(MNISTCorrupt, match=r"t10k-labels-idx1-ubyte.gz is corrupt: md5 [0-9a-f]{32}, expected"):
        fetch_mnist(tmp_path, train=False)


def test_a_truncated_idx_file_is_reported_corrupt(tmp_path):
    shutil.copytree(SUBSET_ROOT, tmp_path / "subset")
    images = tmp_path / "subset" / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:5000])
    with pytest.raises(MNISTCorrupt, match="cannot be read"):
        fetch_mnist(tmp_path / "subset", train=False)


def test_a_mistyped_mnist_root_creates_no_folder(tmp_path):
    with pytest.raises(MNISTMissing, match="could not be downloaded"):
        fetch_mnist(tmp_path / "mnsit", train=True)  # offline here: the download fails
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, culprit", [(["--method", "guidd", "--lr", "0.1"], "method 'guidd'"),
                                           (["--lr", "0"], "learning rate 0.0"),
                                           (["--lr", "-0.01"], "learning rate -0.01")])
def test_train_refuses_before_loading_data_and_leaves_no_run_folder(tmp_path, args, culprit):
    result = greedy("train", "--params", "params.yaml", "config/smoke.yaml", "--modalities", "mono", "gray",
                    "--seed", "0", "--run-dir", str(tmp_path / "run"), *args)
    assert result.returncode != 0 and culprit in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_yaml_number_written_without_a_dot_is_explained(tmp_path):
    overlay = tmp_path / "lr.yaml"
    overlay.write_text("studies:\n  cmnist:\n    table1: {lr: 1e-2}\n")
    result = greedy("prepare", "--params", "params.yaml", str(overlay))
    assert result.returncode != 0 and "studies.cmnist.table1.lr" in result.stderr
    assert "write 0.01 or 1.0e-02" in result.stderr and "Traceback" not in result.stderr
    debug = greedy("prepare", "--params", "params.yaml", str(overlay), "--debug")
    assert "Traceback" in debug.stderr


def test_a_second_trainer_on_the_same_run_folder_fails_at_once(tiny_config, tmp_path):
    held, release = threading.Event(), threading.Event()

    def hold():
        with run_lock(tmp_path / "run"):
            held.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(10)
        started = time.monotonic()
        with pytest.raises(RunBusy, match="being trained by another process"):
            train(tiny_config(), tmp_path / "run")
        assert time.monotonic() - started < 5
    finally:
        release.set()
        thread.join()
    assert train(tiny_config(max_epochs=1), tmp_path / "run")["status"] == "completed"  # free again
