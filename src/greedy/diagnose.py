"""How each branch votes in the fused prediction of a trained two-branch model.

The fused prediction is the mean of the branch logits, so a branch that is confidently wrong
drags it below the better branch. For a run this reports, on the test set: each branch's
accuracy and mean top-1 probability, how often each branch predicts the class whose mean colour
the digit was painted in (Colored-and-gray-MNIST test colours are independent of the label, so
this measures reliance on the spurious colour), and the fused accuracy with logits averaged (the
model's rule) beside probabilities averaged (for comparison only).

    python -m greedy.diagnose results/runs/cmnist/table1/mono-gray/guided-*
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from greedy import io


def branch_votes(model, batches, device, colour_class: torch.Tensor | None = None) -> dict:
    from greedy.train import collect_logits
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


def diagnose_run(run_dir) -> dict:
    from greedy.train import build_for_config, resolve_device, splits_for_config
    run_dir = Path(run_dir)
    status = io.read_json(run_dir / "status.json")
    if status["status"] != "completed":
        return {"run": str(run_dir), "status": status["status"]}
    config = status["config"]
    device = resolve_device(config["device"])
    splits = splits_for_config(config)
    model = build_for_config(config, splits, device)
    model.load_state_dict(torch.load(run_dir / "best.pt", map_location=device, weights_only=False)["model"])
    colour_class = getattr(splits.test, "split", {}).get("color_class")
    return {"run": str(run_dir), "status": "completed", "method": config["method"],
            "modalities": config["modalities"], **branch_votes(model, splits.test, device, colour_class)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="How each branch votes in a trained model's fused prediction.")
    parser.add_argument("runs", nargs="+", help="run folders (status.json, best.pt)")
    parser.add_argument("--out", help="write all results to this JSON file")
    args = parser.parse_args(argv)
    results = [diagnose_run(run) for run in args.runs]
    for r in results:
        print(json.dumps(r))
    if args.out:
        io.write_json(args.out, results)


if __name__ == "__main__":
    main()
