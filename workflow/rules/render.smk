# Stage 5, render: tables, figures, results/index.json and results/report.md, generated from the
# artifact registry (src/greedy/render/registry.py: each artifact's command, options, rule, data
# sets, studies, outputs and caption are declared there once). The render package, paper.py and
# procedure.py (RENDER_CODE) are inputs of every rule here, so editing them re-renders (and
# nothing else). Which artifacts exist follows config["datasets"] and config["studies"].


# The artifacts whose rule the registry describes whole (inputs: files of one data set's studies).
GENERATED_RULES = {}
for _artifact, _dataset in ARTIFACTS_MADE:
    if _artifact.inputs is not None:
        GENERATED_RULES.setdefault(_artifact.rule, []).append((_artifact, _dataset))

for _name, _made in GENERATED_RULES.items():
    _rule = render_rule(_name, _made)

    rule:
        name:
            _name
        conda:
            ENV
        input:
            **_rule["inputs"],
            code=RENDER_CODE,
        output:
            **_rule["outputs"],
        wildcard_constraints:
            **_rule["constraints"],
        params:
            **_rule["params"],
            recorded=_rule["recorded"],
        threads: 1
        resources:
            **SMALL,
        log:
            _rule["log"],
        shell:
            "greedy render {params.command} --params-json {params.recorded:q} > {log} 2>&1"


# The artifacts with inputs of their own (runs, several data sets): their rules by hand, their
# outputs from the registry (render_output).
rule dspeed_plot:
    """d_speed over training steps, re-balancing windows shaded: one guided and one vanilla run."""
    conda:
        ENV
    input:
        guided=lambda w: first_table1_run("cmnist", "guided"),
        vanilla=lambda w: first_table1_run("cmnist", "vanilla"),
        code=RENDER_CODE,
    output:
        png=render_output("dspeed", "out_png"),
        meta=render_output("dspeed", "meta"),
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


rule figlr:
    """d_util against the learning rate (the draft's appendix figure), one panel per data set."""
    conda:
        ENV
    input:
        sweeps=[f"{RESULTS}/{d}/sweep.csv" for d in FIGLR_DATASETS],
        code=RENDER_CODE,
    output:
        png=render_output("figlr", "out_png"),
        meta=render_output("figlr", "meta"),
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


rule table1:
    """Table 1: every data set in config["datasets"]; the others marked not yet reproduced."""
    conda:
        ENV
    input:
        unimodal=[u for u, _ in TABLE1_COLUMNS.values() if u],
        table1=[t for _, t in TABLE1_COLUMNS.values()],
        code=RENDER_CODE,
    output:
        csv=render_output("table1", "csv"),
        md=render_output("table1", "out_md"),
        tex=render_output("table1", "tex"),
        meta=render_output("table1", "meta"),
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
