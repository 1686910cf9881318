# Stage 5, render: tables, figures, results/index.json and results/report.md. render.py and
# paper.py are inputs of every rule here, so editing them re-renders (and nothing else).
# Which artifacts exist follows config["datasets"]: each data set's own figures (the paper's
# numbering) and the shared ones (Table 1, d_util against the learning rate).

rule unimodal_table:
    """The uni-modal baselines (the paper's text quotes them) of one data set."""
    conda:
        ENV
    input:
        sweep=f"{RESULTS}/{{dataset}}/unimodal.csv",
        code=RENDER_CODE,
    output:
        csv=f"{RESULTS}/tables/{{dataset}}_unimodal.csv",
        md=f"{RESULTS}/tables/{{dataset}}_unimodal.md",
        meta=f"{RESULTS}/tables/{{dataset}}_unimodal.meta.json",
        metrics=f"{RESULTS}/metrics/{{dataset}}_unimodal.json",
    params:
        recorded=lambda w: dataset_params(w.dataset, "unimodal"),
    threads: 1
    resources:
        **SMALL,
    log:
        "logs/render/{dataset}_unimodal.log",
    shell:
        "greedy render unimodal --dataset {wildcards.dataset} --sweep {input.sweep} --csv {output.csv} "
        "--md {output.md} --meta {output.meta} --metrics {output.metrics} --params-json {params.recorded:q} "
        "> {log} 2>&1"


rule sweep_histograms:
    """fig7 (CMNIST) / fig2a (ModelNet40): d_util and d_speed histograms of the sweep's pairings."""
    conda:
        ENV
    input:
        sweep=lambda w: f"{RESULTS}/{dataset_of(SWEEP_FIGURE)(w)}/sweep.csv",
        lrs=lambda w: f"{RESULTS}/{dataset_of(SWEEP_FIGURE)(w)}/sweep_lrs.csv",
        code=RENDER_CODE,
    output:
        png=report(f"{RESULTS}/figures/{{figure}}.png", caption="../report/sweep.rst", category="Figures"),
        meta=f"{RESULTS}/figures/{{figure}}.meta.json",
        metrics=f"{RESULTS}/metrics/{{figure}}_sweep.json",
    wildcard_constraints:
        figure="|".join(SWEEP_FIGURE.values()),
    params:
        recorded=lambda w: dataset_params(dataset_of(SWEEP_FIGURE)(w), "sweep"),
    threads: 1
    resources:
        **SMALL,
    log:
        "logs/render/{figure}.log",
    shell:
        "greedy render {wildcards.figure} --sweep {input.sweep} --png {output.png} --meta {output.meta} "
        "--metrics {output.metrics} --params-json {params.recorded:q} > {log} 2>&1"


rule method_histograms:
    """fig5c (CMNIST, an extension) / fig5a (ModelNet40): d_util of vanilla vs guided vs random."""
    conda:
        ENV
    input:
        sweep=lambda w: f"{RESULTS}/{dataset_of(METHOD_FIGURE)(w)}/sweep.csv",
        method_sweep=lambda w: f"{RESULTS}/{dataset_of(METHOD_FIGURE)(w)}/method_sweep.csv",
        code=RENDER_CODE,
    output:
        png=report(f"{RESULTS}/figures/{{figure}}.png", caption="../report/methods.rst", category="Figures"),
        meta=f"{RESULTS}/figures/{{figure}}.meta.json",
    wildcard_constraints:
        figure="|".join(METHOD_FIGURE.values()),
    params:
        pairing=lambda w: pairing(dataset_of(METHOD_FIGURE)(w)),
        recorded=lambda w: dataset_params(dataset_of(METHOD_FIGURE)(w), "sweep", "method_sweep"),
    threads: 1
    resources:
        **SMALL,
    log:
        "logs/render/{figure}.log",
    shell:
        "greedy render {wildcards.figure} --sweep {input.sweep} --method-sweep {input.method_sweep} "
        "--pairing {params.pairing} --png {output.png} --meta {output.meta} "
        "--params-json {params.recorded:q} > {log} 2>&1"


rule dspeed_plot:
    """d_speed over training steps, re-balancing windows shaded: one guided and one vanilla run."""
    conda:
        ENV
    input:
        guided=lambda w: first_table1_run("cmnist", "guided"),
        vanilla=lambda w: first_table1_run("cmnist", "vanilla"),
        code=RENDER_CODE,
    output:
        png=report(f"{RESULTS}/figures/dspeed_steps.png", caption="../report/dspeed.rst",
                   category="Figures"),
        meta=f"{RESULTS}/figures/dspeed_steps.meta.json",
    params:
        recorded=params_json("studies.cmnist.table1", "training.cmnist", "models.cmnist"),
    threads: 1
    resources:
        **SMALL,
    log:
        "logs/render/dspeed_steps.log",
    shell:
        "greedy render dspeed --guided {input.guided} --vanilla {input.vanilla} "
        "--png {output.png} --meta {output.meta} --params-json {params.recorded:q} > {log} 2>&1"


rule l1_figures:
    """fig3 (R(f) vs λ), fig4 (|d_util|, |d_speed| vs log λ), fig8 (vs R(f)): the L1 study."""
    conda:
        ENV
    input:
        l1=f"{RESULTS}/modelnet40/l1.csv",
        code=RENDER_CODE,
    output:
        png=report(f"{RESULTS}/figures/{{figure}}.png", caption="../report/l1.rst", category="Figures"),
        meta=f"{RESULTS}/figures/{{figure}}.meta.json",
    wildcard_constraints:
        figure="fig3|fig4|fig8",
    params:
        recorded=dataset_params("modelnet40", "l1"),
    threads: 1
    resources:
        **SMALL,
    log:
        "logs/render/{figure}.log",
    shell:
        "greedy render {wildcards.figure} --l1 {input.l1} --png {output.png} --meta {output.meta} "
        "--params-json {params.recorded:q} > {log} 2>&1"


rule fig9a:
    """Sensitivity of d_util and accuracy to Q, the number of re-balancing steps."""
    conda:
        ENV
    input:
        study=f"{RESULTS}/modelnet40/sensitivity_q.csv",
        code=RENDER_CODE,
    output:
        png=report(f"{RESULTS}/figures/fig9a.png", caption="../report/sensitivity.rst", category="Figures"),
        meta=f"{RESULTS}/figures/fig9a.meta.json",
    params:
        recorded=dataset_params("modelnet40", "sensitivity"),
    threads: 1
    resources:
        **SMALL,
    log:
        "logs/render/fig9a.log",
    shell:
        "greedy render fig9a --sensitivity {input.study} --png {output.png} --meta {output.meta} "
        "--params-json {params.recorded:q} > {log} 2>&1"


rule fig9b:
    """Sensitivity to α, as fractions of the sweep's E[d_util] (measured first: a checkpoint)."""
    conda:
        ENV
    input:
        study=f"{RESULTS}/modelnet40/sensitivity_alpha.csv",
        expected=measured_file("modelnet40"),
        code=RENDER_CODE,
    output:
        png=report(f"{RESULTS}/figures/fig9b.png", caption="../report/sensitivity.rst", category="Figures"),
        meta=f"{RESULTS}/figures/fig9b.meta.json",
    params:
        recorded=dataset_params("modelnet40", "sensitivity"),
    threads: 1
    resources:
        **SMALL,
    log:
        "logs/render/fig9b.log",
    shell:
        "greedy render fig9b --alpha-study {input.study} --expected {input.expected} --png {output.png} "
        "--meta {output.meta} --params-json {params.recorded:q} > {log} 2>&1"


rule views_table:
    """Three views of ModelNet40, vanilla vs guided (the paper's text)."""
    conda:
        ENV
    input:
        study=f"{RESULTS}/modelnet40/views.csv",
        code=RENDER_CODE,
    output:
        md=f"{RESULTS}/tables/modelnet40_views.md",
        meta=f"{RESULTS}/tables/modelnet40_views.meta.json",
    params:
        recorded=dataset_params("modelnet40", "views"),
    threads: 1
    resources:
        **SMALL,
    log:
        "logs/render/modelnet40_views.log",
    shell:
        "greedy render views --views {input.study} --md {output.md} --meta {output.meta} "
        "--params-json {params.recorded:q} > {log} 2>&1"


rule figlr:
    """d_util against the learning rate (the draft's appendix figure), one panel per data set."""
    conda:
        ENV
    input:
        sweeps=[f"{RESULTS}/{d}/sweep.csv" for d in FIGLR_DATASETS],
        code=RENDER_CODE,
    output:
        png=report(f"{RESULTS}/figures/figlr.png", caption="../report/sweep.rst", category="Figures"),
        meta=f"{RESULTS}/figures/figlr.meta.json",
    params:
        sweeps=" ".join(f"{d}={RESULTS}/{d}/sweep.csv" for d in FIGLR_DATASETS),
        recorded=params_json(*(f"studies.{d}.sweep" for d in FIGLR_DATASETS)),
    threads: 1
    resources:
        **SMALL,
    log:
        "logs/render/figlr.log",
    shell:
        "greedy render figlr --sweep {params.sweeps} --png {output.png} --meta {output.meta} "
        "--params-json {params.recorded:q} > {log} 2>&1"


rule ablation:
    """The official-code switches one at a time (CMNIST): both evaluation states of every run."""
    conda:
        ENV
    input:
        study=f"{RESULTS}/cmnist/ablation.csv",
        code=RENDER_CODE,
    output:
        csv=f"{RESULTS}/tables/cmnist_ablation.csv",
        md=report(f"{RESULTS}/tables/cmnist_ablation.md", caption="../report/ablation.rst", category="Tables"),
        png=report(f"{RESULTS}/figures/ablation.png", caption="../report/ablation.rst", category="Figures"),
        meta=f"{RESULTS}/tables/cmnist_ablation.meta.json",
        metrics=f"{RESULTS}/metrics/cmnist_ablation.json",
    params:
        recorded=lambda w: dataset_params("cmnist", "ablation"),
    threads: 1
    resources:
        **SMALL,
    log:
        "logs/render/cmnist_ablation.log",
    shell:
        "greedy render ablation --ablation {input.study} --csv {output.csv} --md {output.md} --png {output.png} "
        "--meta {output.meta} --metrics {output.metrics} --params-json {params.recorded:q} > {log} 2>&1"


rule table1:
    """Table 1: every data set in config["datasets"]; the others marked not yet reproduced."""
    conda:
        ENV
    input:
        unimodal=[u for u, _ in TABLE1_COLUMNS.values() if u],
        table1=[t for _, t in TABLE1_COLUMNS.values()],
        code=RENDER_CODE,
    output:
        csv=f"{RESULTS}/tables/table1.csv",
        md=report(f"{RESULTS}/tables/table1.md", caption="../report/table1.rst", category="Tables"),
        tex=f"{RESULTS}/tables/table1.tex",
        meta=f"{RESULTS}/tables/table1.meta.json",
    params:
        prefix=lambda w, output: output.csv[: -len(".csv")],
        unimodal=" ".join(f"{c}={u}" for c, (u, _) in TABLE1_COLUMNS.items() if u),
        table1=" ".join(f"{c}={t}" for c, (_, t) in TABLE1_COLUMNS.items()),
        recorded=params_json(*(f"{section}.{d}" for d in DATASETS
                               for section in ("studies", "training", "models", "data"))),
    threads: 1
    resources:
        **SMALL,
    log:
        "logs/render/table1.log",
    shell:
        "greedy render table1 --unimodal {params.unimodal} --table1 {params.table1} "
        "--out-prefix {params.prefix} --meta {output.meta} --params-json {params.recorded:q} > {log} 2>&1"


META_FILES = meta_files()


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
        **SMALL,
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
        **SMALL,
    log:
        "logs/render/index.log",
    shell:
        "greedy index --out {output} {input.meta} > {log} 2>&1"
