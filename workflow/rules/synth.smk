rule synth_data:
    """Synthesise the data of one experiment for every seed (generator parameters,
    training and held-out sets) as netCDF."""
    output:
        "results/data/{experiment}/{data_point}.nc",
    params:
        config=get_data_config,
        seeds=SEEDS,
    log:
        "logs/synth_data/{experiment}/{data_point}.log",
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/synth_data.py"
