"""How each branch votes in the fused prediction of a trained two-branch model.

The fused prediction is the mean of the branch logits, so a branch that is confidently wrong
drags it below the better branch. For a run this reports, on the test set: each branch's
accuracy and mean top-1 probability, how often each branch predicts the class whose mean colour
the digit was painted in (Colored-and-gray-MNIST test colours are independent of the label, so
this measures reliance on the spurious colour), and the fused accuracy with logits averaged (the
model's rule) beside probabilities averaged (for comparison only).

    greedy diagnose results/runs/cmnist/table1/mono-gray/guided-*
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from tqdm import tqdm

from greedy import fileio
from greedy.evaluation import collect_logits, load_run


def branch_votes(model, batches, device, colour_class: torch.Tensor | None = None) -> dict:
    logits, labels = collect_logits(model, batches, device)
    logits, labels = [l.float().cpu() for l in logits], labels.cpu()
    probs = [l.softmax(1) for l in logits]
    result = {
        "branch_acc": [float((l.argmax(1) == labels).float().mean()) for l in logits],
        "branch_confidence": [float(p.max(1).values.mean()) for p in probs],
        "fused_acc_logit_mean": float((torch.stack(logits).mean(0).argmax(1) == labels).float().mean()),
        "fused_acc_prob_mean": float((torch.stack(probs).mean(0).argmax(1) == labels).float().mean()),
    }
    if colour_class is not None:
        result["branch_predicts_colour_class"] = [float((l.argmax(1) == colour_class).float().mean()) for l in logits]
    return result


def diagnose_run(run_dir, device: str | None = None) -> dict:
    run_dir = Path(run_dir)
    status = fileio.read_json(run_dir / "status.json")
    if status["status"] != "completed":
        return {"run": str(run_dir), "status": status["status"]}
    run = load_run(run_dir, device)
    colour_class = getattr(run.splits.test, "split", {}).get("color_class")
    return {"run": str(run_dir), "status": "completed", "method": run.config["method"],
            "modalities": run.config["modalities"],
            **branch_votes(run.model, run.splits.test, run.device, colour_class)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run folders (status.json, best.pt)")
    parser.add_argument("--out", help="write all results to this JSON file")
    parser.add_argument("--device", help="evaluate on this device (default: the run's configuration)")


def run(args: argparse.Namespace) -> list[dict]:
    results = []
    for run_dir in tqdm(args.runs, desc="diagnose", unit="run", disable=len(args.runs) < 2):
        results.append(diagnose_run(run_dir, args.device))
        print(json.dumps(results[-1]))
    if args.out:
        fileio.write_json(args.out, results)
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="greedy diagnose",
                                     description="How each branch votes in a trained model's fused prediction.")
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
