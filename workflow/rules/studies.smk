rule cmnist_collect:
    """One CSV per study: every model's accuracy, d_util, d_speed and R(f)."""
    conda:
        ENV
    input:
        lambda w: run_files(w.study, "utilization.json"),
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
        "python -m greedy.studies collect --out {output} {input} > {log} 2>&1"
