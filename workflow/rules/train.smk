# Stage 2, training: one job per run of every study (uni-modal baselines, learning-rate sweeps,
# method sweeps, Table 1). The run id names the folder and carries the hash of what changes the
# run's results (config.run_hash); the training code files are inputs, so editing them reruns.

rule train_cmnist:
    """Train one CMNIST model; resumes from the run's last.pt when the training code is the same."""
    conda:
        ENV
    input:
        manifest=f"{CMNIST_DATA}/manifest.json",
        code=TRAINING_CODE,
    output:
        status=f"{RESULTS}/runs/cmnist/{{run_id}}/status.json",
    wildcard_constraints:
        run_id="[^/]+/[^/]+/[^/]+",
    threads: 1
    resources:
        **TRAIN_RESOURCES,
    log:
        "logs/train/cmnist/{run_id}.log",
    shell:
        "greedy train --run-id {wildcards.run_id} --params-json \"$GREEDY_PARAMS_JSON\" "
        "--run-dir $(dirname {output.status}) --threads {threads} > {log} 2>&1"
