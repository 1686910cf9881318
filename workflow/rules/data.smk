rule data_cmnist:
    """Colored-and-gray-MNIST from MNIST (downloaded by torchvision when missing)."""
    conda:
        ENV
    output:
        manifest=f"{CMNIST_DATA}/manifest.json",
        train=f"{CMNIST_DATA}/train.pt",
        test=f"{CMNIST_DATA}/test.pt",
    params:
        data=json.dumps(config["data"]["cmnist"]),
        out_dir=lambda w, output: os.path.dirname(output.manifest),
    log:
        "logs/data/cmnist.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
        gpu=0,
    shell:
        "greedy-prepare-cmnist --data-json {params.data:q} --out {params.out_dir} > {log} 2>&1"
