# Stage 1, data: Colored-and-gray-MNIST, one folder per data identity (config.cmnist_data_dir).

rule data_cmnist:
    """Colored-and-gray-MNIST from MNIST (downloaded by torchvision when missing)."""
    conda:
        ENV
    input:
        code=DATA_CODE,
    output:
        manifest=f"{CMNIST_DATA}/manifest.json",
        train=f"{CMNIST_DATA}/train.pt",
        test=f"{CMNIST_DATA}/test.pt",
    log:
        "logs/data/cmnist.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
        gpu=0,
    shell:
        "greedy prepare --data-json \"$GREEDY_DATA_JSON\" --out $(dirname {output.manifest}) > {log} 2>&1"
