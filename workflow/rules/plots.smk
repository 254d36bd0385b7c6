rule plot_wenli_dynamics:
    """Wen & Li: alignment, dense fraction and probe AUC over training."""
    input:
        "results/aggregate/{experiment}.nc",
    output:
        report(
            "results/figures/{experiment}/wenli_dynamics.svg",
            caption="../report/wenli_dynamics.rst",
            category="Wen & Li 2021",
            labels={"experiment": "{experiment}", "figure": "dynamics"},
        ),
    log:
        "logs/plot_wenli_dynamics/{experiment}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        family="sparse_dense",
        figure="wenli_dynamics",
    script:
        "../scripts/plot_figure.py"


rule plot_wenli_cosine:
    """Wen & Li: final |cos(w_i, M_j)| matrix per masking."""
    input:
        "results/aggregate/{experiment}.nc",
    output:
        report(
            "results/figures/{experiment}/wenli_cosine.svg",
            caption="../report/wenli_cosine.rst",
            category="Wen & Li 2021",
            labels={"experiment": "{experiment}", "figure": "cosine matrix"},
        ),
    log:
        "logs/plot_wenli_cosine/{experiment}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        family="sparse_dense",
        figure="wenli_cosine",
    script:
        "../scripts/plot_figure.py"
