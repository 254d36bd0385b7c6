rule synth_data:
    """Synthesise the data of one experiment for every seed (generator parameters,
    training and held-out sets) as netCDF."""
    output:
        "results/data/{experiment}/{data_point}.nc",
    log:
        "logs/synth_data/{experiment}/{data_point}.log",
    benchmark:
        "logs/benchmark/synth_data/{experiment}/{data_point}.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        config=get_data_config,
        seeds=get_seeds,
    script:
        "../scripts/synth_data.py"
