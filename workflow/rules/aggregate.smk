rule aggregate_results:
    """Combine the sweep points of one experiment into one netCDF, sweep axes as dims."""
    input:
        get_point_results,
    output:
        "results/aggregate/{experiment}.nc",
    log:
        "logs/aggregate_results/{experiment}.log",
    benchmark:
        "logs/benchmark/aggregate_results/{experiment}.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        sources=get_point_sources,
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
    benchmark:
        "logs/benchmark/claims_table/{experiment}.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        family=get_family,
    script:
        "../scripts/claims_table.py"


rule claims_summary:
    """The report's front page: per experiment the count of verdicts, then every claim."""
    input:
        expand("results/claims/{experiment}.tsv", experiment=EXPERIMENTS),
    output:
        report(
            "results/summary.html",
            caption="../report/summary.rst",
            category=SUMMARY_CATEGORY,
            labels={"figure": "summary of the claims"},
        ),
    log:
        "logs/claims_summary/summary.log",
    benchmark:
        "logs/benchmark/claims_summary/summary.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        experiments=list(EXPERIMENTS),
        titles={exp: family_of(exp).title for exp in EXPERIMENTS},
    script:
        "../scripts/claims_summary.py"
