# Stage 1, data: one folder per data identity (greedy.data.data_dir: out_dir/<hash>), for every
# data set of the registry. A data set whose raw files are missing stops here, saying what to
# fetch and where to put it (the smoke run uses each data set's fixture instead).

rule data:
    """Prepare one data set (or a study's variant of it, e.g. three views) into its folder."""
    conda:
        ENV
    input:
        code=lambda w: DATA_CODE[DATA_DIRS[w.data_dir]],
    output:
        manifest="{data_dir}/manifest.json",
    wildcard_constraints:
        data_dir="|".join(re.escape(folder) for folder in DATA_DIRS),
    params:
        dataset=lambda w: DATA_DIRS[w.data_dir],
    log:
        "logs/data/{data_dir}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=0,
    shell:
        "greedy prepare --dataset {params.dataset} --params-json \"$GREEDY_PARAMS_JSON\" "
        "--out {wildcards.data_dir} > {log} 2>&1"


rule weights:
    """Download pre-trained weights named in params.yaml (weights:), sha256-checked; without a
    network it stops saying what to fetch and where to put it (a file put there by hand is used)."""
    conda:
        ENV
    output:
        weights="{weights_path}",
    wildcard_constraints:
        weights_path="|".join(re.escape(path) for path in WEIGHTS) or "^$",
    params:
        name=lambda w: WEIGHTS[w.weights_path],
    log:
        "logs/weights/{weights_path}.log",
    threads: 1
    resources:
        **SMALL,
    shell:
        "greedy weights {params.name} --params-json \"$GREEDY_PARAMS_JSON\" > {log} 2>&1"


rule prepared_data:
    """Every data set's prepared folders (DVC's data stage runs this target)."""
    input:
        [f"{folder}/manifest.json" for folder in DATA_DIRS],
