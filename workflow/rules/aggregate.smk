rule aggregate_results:
    """Combine the sweep points of one experiment into one netCDF, sweep axes as dims."""
    input:
        get_point_results,
    output:
        "results/aggregate/{experiment}.nc",
    log:
        "logs/aggregate_results/{experiment}.log",
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        points=get_point_values,
        sweep_keys=get_sweep_keys,
    script:
        "../scripts/aggregate_results.py"


rule claims_table:
    """Evaluate the paper's claims on the aggregated results: effect size and verdict."""
    input:
        "results/aggregate/{experiment}.nc",
    output:
        tsv="results/claims/{experiment}.tsv",
        html=report(
            "results/claims/{experiment}.html",
            caption="../report/claims.rst",
            category=report_category,
            labels=claims_labels,
        ),
    log:
        "logs/claims_table/{experiment}.log",
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        family=get_family,
    script:
        "../scripts/claims_table.py"
