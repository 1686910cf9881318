# Stage 2, training: one job per run of every study of every data set. The run id names the
# folder and carries the hash of what changes the run's results (config.run_hash); the training
# code files are inputs, so editing them reruns. Resources come from params.yaml per data set.
# One configuration, one training: a run with the configuration of an earlier study's run (e.g.
# Table 1's vanilla and the ablation's paper-variant vanilla) copies that finished run.

rule train:
    """Train one model; resumes from the run's last.pt when the training code is the same."""
    conda:
        ENV
    input:
        manifest=run_manifest,
        weights=run_weights,
        code=lambda w: TRAINING_CODE[w.dataset],
        # the α sensitivity's runs are defined by the sweep's measured E[d_util]
        measured=lambda w: [measured_file(w.dataset)] if w.run_id.split("/")[0] in MEASURED_STUDIES else [],
        # a run of the same configuration as an earlier study's is copied from it, not trained
        same_as=same_run,
    output:
        status=f"{RESULTS}/runs/{{dataset}}/{{run_id}}/status.json",
    params:
        measured=lambda w, input: f"--measured {input.measured}" if input.measured else "",
    threads: resource("threads")
    resources:
        mem_mb=resource("mem_mb"),
        runtime=resource("runtime"),
        gpu=resource("gpu"),
        gpu_model=gpu_resource("gpu_model"),
        cpus_per_gpu=gpu_resource("cpus_per_gpu"),
    log:
        "logs/train/{dataset}/{run_id}.log",
    shell:
        "greedy train --dataset {wildcards.dataset} --run-id {wildcards.run_id} {params.measured} "
        "--params-json \"$GREEDY_PARAMS_JSON\" --run-dir $(dirname {output.status}) --threads {threads} "
        "> {log} 2>&1"
