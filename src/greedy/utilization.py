"""Conditional utilization rate (Definition 4.1) and R(f).

A(f_k): accuracy of branch k on the test set, fusion intact. f_k': branch k with, in every MMTM,
the other branches' squeeze vectors replaced by their means over the training split (validation
excluded). u(m1|m0) = (A(f0) - A(f0'))/A(f0), u(m0|m1) = (A(f1) - A(f1'))/A(f1),
d_util = u(m1|m0) - u(m0|m1). u may be negative; it is reported as computed.
With N > 2 branches (the paper's section 7): u_k = (A(f_k) - A(f_k'))/A(f_k), the utilization of
the other modalities given m_k, f_k' seeing the training means of all others; d_util is the
difference of the two most different u_k, as d_speed is of the two most different speeds.
Cost: one forward pass over the training split (squeeze means) and two over the test split.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from tqdm import tqdm

from greedy import fileio
from greedy.compiling import eager
from greedy.evaluation import evaluate, load_run
from greedy.models import MMTM, MultiBranchNet


def utilization_rates(acc_fused: list[float], acc_isolated: list[float]) -> dict:
    """The formulas alone, on A(f_k) and A(f_k') for every branch k. u is a fraction of A(f_k):
    undefined (NaN, and so is d_util) for a branch that gets nothing right, A(f_k) = 0."""
    u = [(fused - isolated) / fused if fused > 0 else float("nan")
         for fused, isolated in zip(acc_fused, acc_isolated)]
    if len(u) == 2:
        return {"u_m1_given_m0": u[0], "u_m0_given_m1": u[1], "d_util": u[0] - u[1]}
    return {**{f"u_others_given_m{k}": value for k, value in enumerate(u)}, "d_util": max(u) - min(u)}


@torch.no_grad()
def squeeze_means(model: MultiBranchNet, batches, device) -> dict[str, list[torch.Tensor]]:
    """Per MMTM, the mean squeeze vector of every branch over `batches` (evaluation mode)."""
    model.eval()
    sums: dict[str, list[torch.Tensor]] = {}
    count = [0]

    def hook_for(name):
        def hook(module: MMTM, args):
            squeezed = [module.squeeze(f).sum(0) for f in args[0]]
            if name in sums:
                sums[name] = [s + q for s, q in zip(sums[name], squeezed)]
            else:
                sums[name] = squeezed
        return hook

    handles = [m.register_forward_pre_hook(hook_for(name)) for name, m in model.fusions.items()]
    try:
        for inputs, labels in batches:
            model([x.to(device) for x in inputs])
            count[0] += len(labels)
    finally:
        for handle in handles:
            handle.remove()
    return {name: [s / count[0] for s in vectors] for name, vectors in sums.items()}


def sparsity_ratio(model: torch.nn.Module, threshold: float = 1e-7) -> float:
    """R(f): fraction of all parameters with absolute value below `threshold`."""
    small = sum(int((p.detach().abs() < threshold).sum()) for p in model.parameters())
    return small / sum(p.numel() for p in model.parameters())


def conditional_utilization(model: MultiBranchNet, train_batches, test_batches, device) -> dict:
    if model.num_branches < 2:
        raise ValueError("d_util is defined for models with two or more branches")
    model = eager(model)  # hooks and isolation on the eager module, never a compiled graph
    means = squeeze_means(model, train_batches, device)
    fused = evaluate(model, test_batches, device)
    with model.isolated(means):
        isolated = evaluate(model, test_batches, device)
    branches = range(model.num_branches)
    acc_fused = [fused[f"acc_b{k}"] for k in branches]
    acc_isolated = [isolated[f"acc_b{k}"] for k in branches]
    return {"test_acc": fused["acc"], **{f"A_f{k}": acc_fused[k] for k in branches},
            **{f"A_f{k}_isolated": acc_isolated[k] for k in branches},
            **utilization_rates(acc_fused, acc_isolated)}


def evaluate_run(run_dir, out_path=None, device: str | None = None) -> dict:
    """d_util, d_speed at the best-validation step and R(f) of a trained run; one JSON. How the
    run stopped (epochs_run, stopped_by) is carried over from its status.json."""
    run_dir = Path(run_dir)
    status = fileio.read_json(run_dir / "status.json")
    result = {"run": str(run_dir), "status": status["status"], "lr": status["config"]["lr"],
              "seed": status["config"]["seed"], "modalities": status["config"]["modalities"],
              "method": status["config"]["method"], "epochs_run": status.get("epochs_run"),
              "stopped_by": status.get("stopped_by"), "l1": status["config"]["training"].get("l1", 0.0),
              "method_params": status["config"].get("method_params", {})}
    if status["status"] != "completed" or not (run_dir / "best.pt").exists():
        result.update({"d_util": None, "d_speed": None, "R": None, "test_acc": None})
    else:
        run = load_run(run_dir, device)
        model, splits = run.model, run.splits
        if model.num_branches >= 2:
            result.update(conditional_utilization(model, splits.train_eval, splits.test, run.device))
        else:
            result.update({"test_acc": evaluate(model, splits.test, run.device)["acc"], "d_util": None})
        result.update({"d_speed": run.best["d_speed"], "best_epoch": run.best["epoch"],
                       "R": sparsity_ratio(model)})
        # d_util is computed clean (above); a run that selects on the carried state reports the
        # carried test accuracy the trainer measured, and every run both (procedure.py)
        state = status.get("evaluation_state", "clean")
        result.update({"evaluation_state": state, "procedure": status["config"].get("procedure", {}),
                       "test_acc_clean": result["test_acc"], "test_acc_carried": status.get("test_acc_carried"),
                       "test_acc_branches_carried": status.get("test_acc_branches_carried")})
        if state == "carried":
            result["test_acc"] = status["test_acc_carried"]
    fileio.write_json(out_path or run_dir / "utilization.json", result)
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", nargs="+", required=True, metavar="RUN",
                        help="trained run folder(s) (status.json, best.pt)")
    parser.add_argument("--out", help="output JSON, one run only (default: <run-dir>/utilization.json)")
    parser.add_argument("--device", help="evaluate on this device (default: the run's configuration)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def run(args: argparse.Namespace) -> list[dict]:
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.out and len(args.run_dir) > 1:
        raise SystemExit("greedy utilization: --out takes one --run-dir")
    results = []
    for run_dir in tqdm(args.run_dir, desc="utilization", unit="run", disable=len(args.run_dir) < 2):
        result = evaluate_run(run_dir, args.out, args.device)
        print(json.dumps({k: result.get(k) for k in ("run", "status", "test_acc", "d_util", "d_speed", "R")}))
        results.append(result)
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="greedy utilization", description="Conditional utilization of a trained run.")
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
