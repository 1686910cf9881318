rule cmnist_unimodal_table:
    conda:
        ENV
    input:
        f"{RESULTS}/cmnist/unimodal.csv",
    output:
        csv=f"{RESULTS}/tables/cmnist_unimodal.csv",
        md=f"{RESULTS}/tables/cmnist_unimodal.md",
        meta=f"{RESULTS}/tables/cmnist_unimodal.meta.json",
        metrics=f"{RESULTS}/metrics/cmnist_unimodal.json",
    params:
        recorded=params_json("studies.cmnist.unimodal", "training.cmnist", "models.cmnist", "data.cmnist"),
    log:
        "logs/render/cmnist_unimodal.log",
    shell:
        "python -m greedy.render unimodal --sweep {input} --csv {output.csv} --md {output.md} "
        "--meta {output.meta} --metrics {output.metrics} --params-json {params.recorded:q} > {log} 2>&1"


rule cmnist_fig7:
    conda:
        ENV
    input:
        sweep=f"{RESULTS}/cmnist/sweep.csv",
        lrs=f"{RESULTS}/cmnist/sweep_lrs.csv",
    output:
        png=f"{RESULTS}/figures/fig7.png",
        meta=f"{RESULTS}/figures/fig7.meta.json",
        metrics=f"{RESULTS}/metrics/cmnist_sweep.json",
    params:
        recorded=params_json("studies.cmnist.sweep", "training.cmnist", "models.cmnist", "data.cmnist"),
    log:
        "logs/render/fig7.log",
    shell:
        "python -m greedy.render fig7 --sweep {input.sweep} --png {output.png} --meta {output.meta} "
        "--metrics {output.metrics} --params-json {params.recorded:q} > {log} 2>&1"


rule index:
    """results/index.json: every rendered artifact, what made it, from how many models."""
    conda:
        ENV
    input:
        f"{RESULTS}/tables/cmnist_unimodal.meta.json",
        f"{RESULTS}/figures/fig7.meta.json",
    output:
        f"{RESULTS}/index.json",
    log:
        "logs/render/index.log",
    shell:
        "python -m greedy.render index --out {output} {input} > {log} 2>&1"
