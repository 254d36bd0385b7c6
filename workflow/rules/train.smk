rule train_model:
    """Train all seeds of one sweep point as one batched model; metrics over training."""
    input:
        data=get_train_data,
    output:
        "results/train/{experiment}/{point}/metrics.nc",
    params:
        config=get_point_config,
        device=config["device"],
        checkpoint=checkpoint_path,
    log:
        "logs/train_model/{experiment}/{point}.log",
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 60 * attempt,
        gpu=train_gpus,
    script:
        "../scripts/train_model.py"
