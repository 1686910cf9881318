"""What the paper costs, before starting it: loader and model throughput, and a projection.

For one data set of the registry, on the device this machine has (a GPU when there is one):
  - loader samples/s: the training split's batches as the trainer reads them (memory-mapped
    arrays, augmentation, normalisation), no model; it must be >= 5 x the model's throughput;
  - model training samples/s: forward, backward and SGD step of the Table 1 two-branch model on
    batches already staged on the device, and evaluation samples/s (forward only);
  - the projection: for every study of params.yaml (the DAG's training jobs, `studies.study_runs`),
    jobs x epochs x (training steps + the per-epoch validation and test passes) + the d_util
    evaluation, at the paper's split sizes (`PAPER_SPLIT_SIZES` of the data module).

Epochs per run are not known before training (runs stop 5 epochs after 100 % training
accuracy); the projection uses the median `epochs_run` of the data set's collected Table 1 runs
when results/<dataset>/table1.csv exists, else `--epochs` (printed as assumed).

    greedy cost --dataset modelnet40 --params params.yaml config/bench-modelnet40.yaml
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from greedy.benchmark import timed  # one timer (device-synchronised) for both benchmarks
from greedy.config import load_params, run_config
from greedy.data import DATASETS, dataset_module, prepare
from greedy.evaluation import build_for_config, input_format, resolve_device, splits_for_config, to_device

LOADER_TARGET = 5.0  # loader samples/s over model training samples/s (issue: never the bottleneck)


def table1_config(params: dict, dataset: str) -> dict:
    study = params["studies"][dataset]
    modalities = study.get("modalities") or study["sweep"]["pairings"][0]
    return run_config(params, dataset, list(modalities), study["table1"]["lr"], params["seed"])


def measure_throughput(params: dict, dataset: str, steps: int = 10, repeats: int = 3) -> dict:
    """Samples/s of the training loader, of training the Table 1 model and of evaluating it.
    Each figure is the median of `repeats` timings over `steps` batches (after one warm-up)."""
    prepare(params, dataset)
    config = table1_config(params, dataset)
    device = resolve_device(config["device"])
    splits = splits_for_config(config)
    batch_size = config["training"]["batch_size"]

    def read_batches(n):
        batches = []
        for batch in splits.train:
            batches.append(batch)
            if len(batches) == n:
                break
        return batches

    model = build_for_config(config, splits, device)
    staged = [to_device(*b, device, input_format(model)) for b in read_batches(steps)]
    steps = len(staged)
    samples = sum(len(labels) for _, labels in staged)
    loader = [timed(lambda: read_batches(steps), torch.device("cpu")) for _ in range(repeats)]

    optimizer = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=config["training"]["momentum"])

    def train_steps(batches):
        model.train()
        for inputs, labels in batches:
            loss = sum(F.cross_entropy(l, labels) for l in model(inputs))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    @torch.no_grad()
    def eval_steps(batches):
        model.eval()
        for inputs, _ in batches:
            model(inputs)

    train_steps(staged[:1])  # warm-up (allocator, cuDNN autotuning)
    train = [timed(lambda: train_steps(staged), device) for _ in range(repeats)]
    evaluation = [timed(lambda: eval_steps(staged), device) for _ in range(repeats)]
    loader_rate = samples / statistics.median(loader)
    train_rate = samples / statistics.median(train)
    return {
        "dataset": dataset, "device": str(device), "threads": torch.get_num_threads(),
        "architecture": config["model"]["architecture"], "modalities": config["modalities"],
        "input_shapes": [list(x.shape[1:]) for x in staged[0][0]], "batch_size": batch_size,
        "steps": steps, "loader_samples_per_s": loader_rate, "train_samples_per_s": train_rate,
        "eval_samples_per_s": samples / statistics.median(evaluation),
        "train_step_ms": 1000 * statistics.median(train) / steps,
        "loader_over_train": loader_rate / train_rate,
    }


def measure_preparation(params: dict, dataset: str) -> dict:
    """Prepare the data set once more into a temporary folder and time it: samples/s, and for
    video the decoded frames/s (both modalities' videos). Opt-in: on the real data this redoes
    the whole extraction."""
    import tempfile
    module = dataset_module(dataset)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        manifest = module.prepare_data(params["data"][dataset], Path(tmp) / "prepared")
        seconds = time.perf_counter() - start
    samples = sum(manifest.get("totals", {}).values())
    result = {"prepare_s": seconds, "prepared_samples": samples, "prepare_samples_per_s": samples / seconds}
    if "frames_per_clip" in manifest:  # video: frames decoded, RGB and depth
        frames = 2 * sum(int(n) * k for split in manifest["frames_per_clip"].values() for n, k in split.items())
        result.update(decoded_frames=frames, decoded_frames_per_s=frames / seconds)
    return result


def measured_epochs(results: Path, dataset: str) -> float | None:
    """Median epochs of the data set's collected Table 1 runs, when they exist."""
    path = results / dataset / "table1.csv"
    if not path.exists():
        return None
    import pandas as pd
    epochs = pd.read_csv(path).get("epochs_run")
    return float(epochs.median()) if epochs is not None and epochs.notna().any() else None


def project(params: dict, dataset: str, throughput: dict, epochs: float) -> list[dict]:
    """Jobs and hours per study at the paper's split sizes and the measured samples/s."""
    from greedy.studies import study_runs
    sizes = dataset_module(dataset).PAPER_SPLIT_SIZES
    # α sensitivity runs exist once the sweep has measured E[d_util]; any value counts them.
    runs = study_runs(params, dataset, measured={"E_d_util": 0.1})
    train_s = sizes["train"] / throughput["train_samples_per_s"]
    eval_s = (sizes["val"] + sizes["test"]) / throughput["eval_samples_per_s"]
    # d_util: squeeze means over the training split, then the test split fused and isolated per branch
    n_branches = len(throughput["modalities"])
    d_util_s = (sizes["train"] + (1 + n_branches) * sizes["test"]) / throughput["eval_samples_per_s"]
    per_job_s = epochs * (train_s + eval_s) + d_util_s
    rows: dict[str, dict] = {}
    for run in runs.values():
        if run.get("same_as"):  # copied from an earlier study's run of the same configuration
            continue
        row = rows.setdefault(run["study"], {"study": run["study"], "jobs": 0, "hours": 0.0})
        row["jobs"] += 1
        # a branch costs about the same whatever it reads: uni-modal runs half, three views 1.5x
        row["hours"] += per_job_s * len(run["config"]["modalities"]) / n_branches / 3600
    total = {"study": "total", "jobs": sum(r["jobs"] for r in rows.values()),
             "hours": sum(r["hours"] for r in rows.values())}
    return [*rows.values(), total]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="modelnet40", choices=list(DATASETS))
    parser.add_argument("--params", nargs="+", default=["params.yaml"], metavar="FILE",
                        help="params.yaml and overlays, later files win; the studies counted are these "
                             "parameters' (paper scale in params.yaml)")
    parser.add_argument("--measure-params", nargs="+", metavar="FILE",
                        help="parameters for the throughput measurement (default: --params), e.g. a "
                             "fixture at the real resolution when the real data is not here")
    parser.add_argument("--epochs", type=float, default=50.0,
                        help="epochs per run when no collected Table 1 runs say (default 50, assumed)")
    parser.add_argument("--results", default="results")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--time-preparation", action="store_true",
                        help="also prepare the data once more into a temporary folder and report samples/s "
                             "(and decoded frames/s for video); on real data this redoes the extraction")
    parser.add_argument("--out", help="also write the figures as JSON here")


def run(args: argparse.Namespace) -> dict:
    params = load_params(args.params)
    throughput = measure_throughput(load_params(args.measure_params or args.params), args.dataset,
                                    args.steps, args.repeats)
    epochs = measured_epochs(Path(args.results), args.dataset)
    epochs_source = "median of collected Table 1 runs" if epochs is not None else "assumed (--epochs)"
    epochs = epochs if epochs is not None else args.epochs
    rows = project(params, args.dataset, throughput, epochs)
    if args.time_preparation:
        throughput.update(measure_preparation(load_params(args.measure_params or args.params), args.dataset))
    kind = "GPU" if throughput["device"].startswith("cuda") else "CPU"
    print(json.dumps(throughput, indent=2))
    ok = throughput["loader_over_train"] >= LOADER_TARGET
    print(f"loader {throughput['loader_samples_per_s']:.1f} samples/s, model training "
          f"{throughput['train_samples_per_s']:.2f} samples/s: loader / model {throughput['loader_over_train']:.1f} "
          f"(target >= {LOADER_TARGET:g})  {'ok' if ok else 'MISSED'}")
    print(f"\nprojection for {args.dataset} at paper scale on this {kind} ({throughput['device']}, "
          f"{throughput['threads']} threads), {epochs:g} epochs per run ({epochs_source}):")
    print(f"{'study':20s} {'jobs':>6s} {kind + '-hours':>12s}")
    for row in rows:
        print(f"{row['study']:20s} {row['jobs']:6d} {row['hours']:12.1f}")
    result = {"throughput": throughput, "epochs": epochs, "epochs_source": epochs_source,
              "device_kind": kind, "projection": rows}
    if args.out:
        from greedy import fileio
        fileio.write_json(args.out, result)
    if not math.isfinite(throughput["train_samples_per_s"]):
        raise SystemExit("greedy cost: training throughput could not be measured")
    return result
