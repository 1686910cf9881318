# One training job per run (uni-modal baselines and multi-modal sweeps share this rule's shape).

rule train_cmnist:
    """Train one CMNIST model; the run id (with its config hash) names the folder."""
    conda:
        ENV
    input:
        manifest=f"{CMNIST_DATA}/manifest.json",
    output:
        status=f"{RESULTS}/runs/cmnist/{{run_id}}/status.json",
    params:
        config=lambda w: json.dumps(RUNS[w.run_id]["config"]),
        run_dir=lambda w, output: os.path.dirname(output.status),
    wildcard_constraints:
        run_id="[^/]+/[^/]+/[^/]+",
    threads: 1
    resources:
        **TRAIN_RESOURCES,
    log:
        "logs/train/cmnist/{run_id}.log",
    shell:
        "greedy-train --run-config {params.config:q} --run-dir {params.run_dir} "
        "--threads {threads} > {log} 2>&1"
