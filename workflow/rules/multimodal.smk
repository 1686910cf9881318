# The learning-rate sweep: its learning rates, drawn from a seeded generator, written to CSV.

rule cmnist_sweep_lrs:
    conda:
        ENV
    output:
        f"{RESULTS}/cmnist/sweep_lrs.csv",
    params:
        lrs=lambda w: sweep_learning_rates(config),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
        gpu=0,
    log:
        "logs/studies/cmnist_sweep_lrs.log",
    run:
        import pandas as pd
        from greedy import io
        io.write_csv(output[0], pd.DataFrame({"lr_index": range(len(params.lrs)), "lr": params.lrs}))
