# Stage 5, render: tables, figures, results/index.json and results/report.md. render.py and
# paper.py are inputs of every rule here, so editing them re-renders (and nothing else).

rule cmnist_unimodal_table:
    conda:
        ENV
    input:
        sweep=f"{RESULTS}/cmnist/unimodal.csv",
        code=RENDER_CODE,
    output:
        csv=f"{RESULTS}/tables/cmnist_unimodal.csv",
        md=f"{RESULTS}/tables/cmnist_unimodal.md",
        meta=f"{RESULTS}/tables/cmnist_unimodal.meta.json",
        metrics=f"{RESULTS}/metrics/cmnist_unimodal.json",
    params:
        recorded=params_json("studies.cmnist.unimodal", "training.cmnist", "models.cmnist", "data.cmnist"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
        gpu=0,
    log:
        "logs/render/cmnist_unimodal.log",
    shell:
        "greedy render unimodal --sweep {input.sweep} --csv {output.csv} --md {output.md} "
        "--meta {output.meta} --metrics {output.metrics} --params-json {params.recorded:q} > {log} 2>&1"


rule cmnist_fig7:
    conda:
        ENV
    input:
        sweep=f"{RESULTS}/cmnist/sweep.csv",
        lrs=f"{RESULTS}/cmnist/sweep_lrs.csv",
        code=RENDER_CODE,
    output:
        png=report(f"{RESULTS}/figures/fig7.png", caption="../report/fig7.rst", category="Colored-and-gray-MNIST"),
        meta=f"{RESULTS}/figures/fig7.meta.json",
        metrics=f"{RESULTS}/metrics/cmnist_sweep.json",
    params:
        recorded=params_json("studies.cmnist.sweep", "training.cmnist", "models.cmnist", "data.cmnist"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
        gpu=0,
    log:
        "logs/render/fig7.log",
    shell:
        "greedy render fig7 --sweep {input.sweep} --png {output.png} --meta {output.meta} "
        "--metrics {output.metrics} --params-json {params.recorded:q} > {log} 2>&1"


rule table1:
    """Table 1 (CMNIST column; other data sets marked not yet reproduced)."""
    conda:
        ENV
    input:
        unimodal=f"{RESULTS}/cmnist/unimodal.csv",
        table1=f"{RESULTS}/cmnist/table1.csv",
        code=RENDER_CODE,
    output:
        csv=f"{RESULTS}/tables/table1.csv",
        md=report(f"{RESULTS}/tables/table1.md", caption="../report/table1.rst", category="Tables"),
        tex=f"{RESULTS}/tables/table1.tex",
        meta=f"{RESULTS}/tables/table1.meta.json",
    params:
        prefix=lambda w, output: output.csv[: -len(".csv")],
        recorded=params_json("studies.cmnist.table1", "studies.cmnist.unimodal", "training.cmnist",
                             "models.cmnist", "data.cmnist"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
        gpu=0,
    log:
        "logs/render/table1.log",
    shell:
        "greedy render table1 --unimodal {input.unimodal} --table1 {input.table1} "
        "--out-prefix {params.prefix} --meta {output.meta} --params-json {params.recorded:q} > {log} 2>&1"


rule cmnist_fig5c:
    """Extension of the paper's Fig. 5 to CMNIST: d_util of vanilla vs guided vs random sweeps."""
    conda:
        ENV
    input:
        sweep=f"{RESULTS}/cmnist/sweep.csv",
        method_sweep=f"{RESULTS}/cmnist/method_sweep.csv",
        code=RENDER_CODE,
    output:
        png=report(f"{RESULTS}/figures/fig5c.png", caption="../report/fig5c.rst", category="Colored-and-gray-MNIST"),
        meta=f"{RESULTS}/figures/fig5c.meta.json",
    params:
        pairing="+".join(config["studies"]["cmnist"]["modalities"]),
        recorded=params_json("studies.cmnist.sweep", "studies.cmnist.method_sweep", "studies.cmnist.table1",
                             "training.cmnist", "models.cmnist", "data.cmnist"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
        gpu=0,
    log:
        "logs/render/fig5c.log",
    shell:
        "greedy render fig5c --sweep {input.sweep} --method-sweep {input.method_sweep} "
        "--pairing {params.pairing} --png {output.png} --meta {output.meta} "
        "--params-json {params.recorded:q} > {log} 2>&1"


rule cmnist_dspeed_plot:
    """d_speed over training steps, re-balancing windows shaded: one guided and one vanilla run."""
    conda:
        ENV
    input:
        guided=lambda w: first_table1_run("guided"),
        vanilla=lambda w: first_table1_run("vanilla"),
        code=RENDER_CODE,
    output:
        png=report(f"{RESULTS}/figures/dspeed_steps.png", caption="../report/dspeed.rst",
                   category="Colored-and-gray-MNIST"),
        meta=f"{RESULTS}/figures/dspeed_steps.meta.json",
    params:
        recorded=params_json("studies.cmnist.table1", "training.cmnist", "models.cmnist"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
        gpu=0,
    log:
        "logs/render/dspeed_steps.log",
    shell:
        "greedy render dspeed --guided {input.guided} --vanilla {input.vanilla} "
        "--png {output.png} --meta {output.meta} --params-json {params.recorded:q} > {log} 2>&1"


META_FILES = [
    f"{RESULTS}/tables/cmnist_unimodal.meta.json",
    f"{RESULTS}/figures/fig7.meta.json",
    f"{RESULTS}/tables/table1.meta.json",
    f"{RESULTS}/figures/fig5c.meta.json",
    f"{RESULTS}/figures/dspeed_steps.meta.json",
]


rule report:
    """results/report.md: every paper artifact, ours beside the paper's, with a verdict."""
    conda:
        ENV
    input:
        meta=META_FILES,
        index=f"{RESULTS}/index.json",
        code=RENDER_CODE,
    output:
        report(f"{RESULTS}/report.md", caption="../report/paper_comparison.rst", category="Paper comparison"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
        gpu=0,
    log:
        "logs/render/report.log",
    shell:
        "greedy report --index {input.index} --out {output} {input.meta} > {log} 2>&1"


rule index:
    """results/index.json: every rendered artifact, what made it, from how many models."""
    conda:
        ENV
    input:
        meta=META_FILES,
        code=RENDER_CODE,
    output:
        f"{RESULTS}/index.json",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
        gpu=0,
    log:
        "logs/render/index.log",
    shell:
        "greedy index --out {output} {input.meta} > {log} 2>&1"
