# contrastlab: experiments of contrastive-learning theory papers, end to end.
#
# Path scheme (all generated, none in git):
#   results/data/<experiment>/<data_point>.nc         synthetic data per seed
#   results/train/<experiment>/<point>/metrics.nc     one batched training job per sweep point
#   results/aggregate/<experiment>.nc                 sweep axes as dims
#   results/figures/<experiment>/<figure>.svg         seaborn figures (in the report)
#   results/claims/<experiment>.{tsv,html}            claims table (in the report)
#   logs/<rule>/...                                   one log per job
#   checkpoints/<experiment>/<point>.pt               resumable training (not an output)
# Build the report with: snakemake --report reports/report.html


from snakemake.utils import min_version

min_version("9.19")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/synth.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/plots.smk"


rule all:
    default_target: True
    input:
        get_final_output(),
