# Stage 4, collect: one CSV per study from its runs' utilization JSONs, and the sweep's
# learning rates.

rule cmnist_sweep_lrs:
    """The learning-rate sweep's learning rates, drawn from a seeded generator, as CSV."""
    conda:
        ENV
    input:
        code=COLLECT_CODE,
    output:
        f"{RESULTS}/cmnist/sweep_lrs.csv",
    params:
        sweep=lambda w: json.dumps({"seed": config["seed"],
                                    "studies": {"cmnist": {"sweep": config["studies"]["cmnist"]["sweep"]}}}),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
        gpu=0,
    log:
        "logs/studies/cmnist_sweep_lrs.log",
    shell:
        "greedy collect --sweep-lrs --params-json {params.sweep:q} --out {output} > {log} 2>&1"


rule cmnist_collect:
    """One CSV per study: every model's accuracy, d_util, d_speed, R(f) and how it stopped."""
    conda:
        ENV
    input:
        runs=lambda w: run_files(w.study, "utilization.json"),
        code=COLLECT_CODE,
    output:
        f"{RESULTS}/cmnist/{{study}}.csv",
    wildcard_constraints:
        study="unimodal|sweep|method_sweep|table1",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
        gpu=0,
    log:
        "logs/studies/cmnist_{study}.log",
    shell:
        "greedy collect --out {output} {input.runs} > {log} 2>&1"
