rule aggregate_results:
    """Combine the sweep points of one experiment into one netCDF, sweep axes as dims (a
    staged experiment's: its last stage's aggregate)."""
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


rule aggregate_stage:
    """A staged experiment (n_seeds: {start, step, max}) after stage {stage}: the seeds of
    stages 1..{stage} of every sweep point, combined as aggregate_results does."""
    input:
        get_stage_results,
    output:
        "results/stages/{experiment}/aggregate@s{stage}.nc",
    log:
        "logs/aggregate_stage/{experiment}/{stage}.log",
    benchmark:
        "logs/benchmark/aggregate_stage/{experiment}/{stage}.tsv"
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


checkpoint claims_stage:
    """The claims of a staged experiment after stage {stage}, at the group-sequential
    boundary of that stage (contrastlab.sequential), and whether to add seeds."""
    input:
        agg="results/stages/{experiment}/aggregate@s{stage}.nc",
        previous=get_previous_stage,
    output:
        tsv="results/stages/{experiment}/claims@s{stage}.tsv",
        decision="results/stages/{experiment}/decision@s{stage}.json",
    log:
        "logs/claims_stage/{experiment}/{stage}.log",
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        family=get_family,
        names=get_claim_names,
        design=get_design,
    script:
        "../scripts/claims_stage.py"


rule claims_raw:
    """Evaluate the paper's claims on the aggregated results (a staged experiment: its
    last stage's claims): effect, interval and raw p-value."""
    input:
        get_raw_claims_input,
    output:
        "results/claims/raw/{experiment}.tsv",
    log:
        "logs/claims_raw/{experiment}.log",
    benchmark:
        "logs/benchmark/claims_raw/{experiment}.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        family=get_family,
        names=get_claim_names,
    script:
        "../scripts/claims_raw.py"


rule claims_table:
    """One experiment's claims table, its p-values adjusted for multiplicity together
    with every other claim of the run (claims.correction) and its verdicts decided."""
    input:
        expand("results/claims/raw/{experiment}.tsv", experiment=EXPERIMENTS),
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
        experiments=list(EXPERIMENTS),
        correction=config["claims"]["correction"],
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
        correction=config["claims"]["correction"],
    script:
        "../scripts/claims_summary.py"
