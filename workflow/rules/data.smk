rule data_cmnist:
    """Colored-and-gray-MNIST from MNIST (downloaded by torchvision when missing)."""
    output:
        manifest=f"{CMNIST_DATA}/manifest.json",
        train=f"{CMNIST_DATA}/train.pt",
        test=f"{CMNIST_DATA}/test.pt",
    params:
        data=json.dumps(config["data"]["cmnist"]),
    log:
        "logs/data/cmnist.log",
    resources:
        mem_mb=2000,
        gpu=0,
    shell:
        "greedy-prepare-cmnist --data-json {params.data:q} --out {CMNIST_DATA} > {log} 2>&1"
