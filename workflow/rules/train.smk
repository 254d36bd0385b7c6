rule train_model:
    """Train all seeds of one sweep point (or of several fused points) as one batched
    model; metrics over training."""
    input:
        data=get_train_data,
    output:
        "results/train/{experiment}/{job}/metrics.nc",
    log:
        "logs/train_model/{experiment}/{job}.log",
    benchmark:
        "logs/benchmark/train_model/{experiment}/{job}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=train_mem_mb,
        runtime=train_runtime,
        gpu=train_gpus,
    params:
        configs=get_job_configs,
        data=get_job_data,
        labels=get_job_labels,
        device=config["device"],
        checkpoint=checkpoint_path,
    script:
        "../scripts/train_model.py"
