rule plot_figure:
    """Draw one figure of an experiment from its aggregated results (the figures and
    their captions come from the experiment's family, through the registry)."""
    input:
        "results/aggregate/{experiment}.nc",
    output:
        report(
            "results/figures/{experiment}/{figure}.svg",
            caption="../report/figure.rst",
            category=report_category,
            labels=figure_labels,
        ),
    log:
        "logs/plot_figure/{experiment}/{figure}.log",
    benchmark:
        "logs/benchmark/plot_figure/{experiment}/{figure}.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        family=get_family,
        caption=figure_caption,
    script:
        "../scripts/plot_figure.py"


rule make_table:
    """Render one table of an experiment from its aggregated results as HTML (the tables
    and their captions come from the experiment's family, through the registry)."""
    input:
        "results/aggregate/{experiment}.nc",
    output:
        report(
            "results/tables/{experiment}/{figure}.html",
            caption="../report/figure.rst",
            category=report_category,
            labels=figure_labels,
        ),
    log:
        "logs/make_table/{experiment}/{figure}.log",
    benchmark:
        "logs/benchmark/make_table/{experiment}/{figure}.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        family=get_family,
        caption=figure_caption,
    script:
        "../scripts/plot_figure.py"
