rule train_model:
    """Train all seeds of one sweep point as one batched model; metrics over training."""
    input:
        data=get_train_data,
    output:
        "results/train/{experiment}/{point}/metrics.nc",
    log:
        "logs/train_model/{experiment}/{point}.log",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=train_mem_mb,
        runtime=train_runtime,
        gpu=train_gpus,
    params:
        config=get_point_config,
        device=config["device"],
        checkpoint=checkpoint_path,
    script:
        "../scripts/train_model.py"
