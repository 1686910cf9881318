# Reproduction of Wu et al. (ICML 2022). `snakemake --cores all` runs the paper's studies;
# `snakemake --cores all --configfile config/smoke.yaml` runs the same DAG at laptop size.
from snakemake.utils import min_version, validate

min_version("9.0")

configfile: "params.yaml"
validate(config, "workflow/schemas/params.schema.yaml")

report: "workflow/report/workflow.rst"

# One rule file per stage; every rule is a thin call to the `greedy` command (src/greedy/cli.py).
include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/utilization.smk"
include: "workflow/rules/collect.smk"
include: "workflow/rules/render.smk"


rule all:
    input:
        f"{RESULTS}/index.json",
        f"{RESULTS}/report.md",
    default_target: True
