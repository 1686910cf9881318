# Stage 3, utilization: d_util, d_speed at the best-validation step and R(f) of every trained run.

rule utilization_cmnist:
    """d_util, d_speed at the best-validation step and R(f) of one trained model."""
    conda:
        ENV
    input:
        status=f"{RESULTS}/runs/cmnist/{{run_id}}/status.json",
        code=UTILIZATION_CODE,
    output:
        f"{RESULTS}/runs/cmnist/{{run_id}}/utilization.json",
    wildcard_constraints:
        run_id="[^/]+/[^/]+/[^/]+",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
        gpu=0,
    log:
        "logs/utilization/cmnist/{run_id}.log",
    shell:
        "greedy utilization --run-dir $(dirname {input.status}) --out {output} --threads {threads} > {log} 2>&1"
