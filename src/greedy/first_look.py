"""First look at Colored-and-gray-MNIST: uni-modal gray and mono baselines and one vanilla
multi-modal model (mono + gray), trained as params.yaml says, with test accuracies printed beside
the paper's and the vanilla model's d_util.

    greedy-first-look --params params.yaml config/real-mnist.yaml
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from greedy import io, paper
from greedy.config import load_params, run_config
from greedy.data import cmnist
from greedy.train import train
from greedy.utilization import evaluate_run

# Paper values, printed only as the labelled reference column.
PAPER_TEST_ACC = {"gray": f"{paper.CMNIST_UNIMODAL_TEXT['gray']:.0f} (text)",
                  "mono": f"{paper.CMNIST_UNIMODAL_TEXT['mono']:.0f} (text)",
                  "vanilla mono+gray": "{:.2f}±{:.2f} (Table 1)".format(*paper.TABLE1["vanilla"][0])}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", nargs="+", default=["params.yaml"])
    parser.add_argument("--out", default="results/first_look")
    parser.add_argument("--seed", type=int, default=None, help="default: params seed")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    cmnist.prepare(params)
    seed = params["seed"] if args.seed is None else args.seed
    lr = params["studies"]["cmnist"]["unimodal"]["lr"]
    out = Path(args.out)
    runs = {"gray": ["gray"], "mono": ["mono"], "vanilla mono+gray": params["studies"]["cmnist"]["modalities"]}
    rows = []
    for name, modalities in runs.items():
        run_dir = out / name.replace(" ", "_").replace("+", "-")
        summary = train(run_config(params, "cmnist", modalities, lr, seed), run_dir, progress=True)
        row = {"model": name, "status": summary["status"], "epochs": summary["epochs_run"],
               "test_acc_ours_%": None if summary["test_acc"] is None else 100 * summary["test_acc"],
               "test_acc_paper": PAPER_TEST_ACC[name], "d_util": None, "wall_s": round(summary["wall_seconds"])}
        if len(modalities) == 2:
            row["d_util"] = evaluate_run(run_dir)["d_util"]
        rows.append(row)
    table = pd.DataFrame(rows)
    io.write_csv(out / "first_look.csv", table)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
