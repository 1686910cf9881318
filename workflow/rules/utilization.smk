# Stage 3, utilization: d_util, d_speed at the best-validation step and R(f) of every trained run.

rule utilization:
    """d_util, d_speed at the best-validation step and R(f) of one trained model."""
    conda:
        ENV
    input:
        status=f"{RESULTS}/runs/{{dataset}}/{{run_id}}/status.json",
        code=UTILIZATION_CODE,
    output:
        f"{RESULTS}/runs/{{dataset}}/{{run_id}}/utilization.json",
    threads: resource("threads")
    resources:
        mem_mb=resource("mem_mb"),
        runtime=30,
        gpu=resource("gpu"),
        gpu_model=gpu_resource("gpu_model"),
        cpus_per_gpu=gpu_resource("cpus_per_gpu"),
    log:
        "logs/utilization/{dataset}/{run_id}.log",
    shell:
        "greedy utilization --run-dir $(dirname {input.status}) --out {output} --threads {threads} > {log} 2>&1"
