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


rule plot_hltm_corr_by_height:
    """HLTM: mean best correlation per height vs epoch."""
    input:
        "results/aggregate/{experiment}.nc",
    output:
        report(
            "results/figures/{experiment}/hltm_corr_by_height.svg",
            caption="../report/hltm_corr_by_height.rst",
            category="Tian et al. 2020",
            labels={"experiment": "{experiment}", "figure": "correlation by height"},
        ),
    log:
        "logs/plot_hltm_corr_by_height/{experiment}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        family="hltm",
        figure="hltm_corr_by_height",
    script:
        "../scripts/plot_figure.py"


rule plot_hltm_root_corr:
    """HLTM: root correlation at init vs trained over hid x polarity."""
    input:
        "results/aggregate/{experiment}.nc",
    output:
        report(
            "results/figures/{experiment}/hltm_root_corr.svg",
            caption="../report/hltm_root_corr.rst",
            category="Tian et al. 2020",
            labels={"experiment": "{experiment}", "figure": "root correlation"},
        ),
    log:
        "logs/plot_hltm_root_corr/{experiment}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        family="hltm",
        figure="hltm_root_corr",
    script:
        "../scripts/plot_figure.py"


rule plot_hltm_cov_op:
    """HLTM: covariance-operator norm vs epoch."""
    input:
        "results/aggregate/{experiment}.nc",
    output:
        report(
            "results/figures/{experiment}/hltm_cov_op.svg",
            caption="../report/hltm_cov_op.rst",
            category="Tian et al. 2020",
            labels={"experiment": "{experiment}", "figure": "covariance operator"},
        ),
    log:
        "logs/plot_hltm_cov_op/{experiment}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        family="hltm",
        figure="hltm_cov_op",
    script:
        "../scripts/plot_figure.py"
