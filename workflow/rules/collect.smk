# Stage 4, collect: one CSV per study from its runs' utilization JSONs, the sweep's learning
# rates, and E[d_util] of the sweep, which the α sensitivity study is defined by (a checkpoint:
# Snakemake re-evaluates the DAG once it exists).

rule sweep_lrs:
    """The learning-rate sweep's learning rates (listed, or drawn from a seeded generator), as CSV."""
    conda:
        ENV
    input:
        code=COLLECT_CODE,
    output:
        f"{RESULTS}/{{dataset}}/sweep_lrs.csv",
    params:
        sweep=lambda w: json.dumps({"seed": config["seed"],
                                    "studies": {w.dataset: {"sweep": config["studies"][w.dataset]["sweep"]}}}),
    threads: 1
    resources:
        **SMALL,
    log:
        "logs/studies/{dataset}_sweep_lrs.log",
    shell:
        "greedy sweep-lrs --dataset {wildcards.dataset} --params-json {params.sweep:q} "
        "--out {output} > {log} 2>&1"


rule collect:
    """One CSV per study: every model's accuracy, d_util, d_speed, R(f) and how it stopped."""
    conda:
        ENV
    input:
        runs=lambda w: run_files(w.dataset, w.study, "utilization.json"),
        code=COLLECT_CODE,
    output:
        f"{RESULTS}/{{dataset}}/{{study}}.csv",
    wildcard_constraints:
        study="unimodal|sweep|method_sweep|table1|table1_pretrained|l1|sensitivity_q|sensitivity_alpha|views|ablation",
    threads: 1
    resources:
        **SMALL,
    log:
        "logs/studies/{dataset}_{study}.log",
    shell:
        "greedy collect --allow-empty --out {output} {input.runs} > {log} 2>&1"


checkpoint expected_d_util:
    """E[d_util] of the sweep's two-modality models: α of the sensitivity study is a fraction of it."""
    conda:
        ENV
    input:
        sweep=f"{RESULTS}/{{dataset}}/sweep.csv",
        code=COLLECT_CODE,
    output:
        f"{RESULTS}/{{dataset}}/expected_d_util.json",
    params:
        pairing=lambda w: pairing(w.dataset),
    threads: 1
    resources:
        **SMALL,
    log:
        "logs/studies/{dataset}_expected_d_util.log",
    shell:
        "greedy expected-d-util {input.sweep} --pairing {params.pairing} --out {output} > {log} 2>&1"
