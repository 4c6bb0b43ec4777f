# The training loss as a dimension (the paper's open question, section 4): its comparison figure.
# Every stage fans out over `losses` through the {loss} level of its paths (common.smk).


rule loss_comparison_figure:
    input:
        stats="results/aopc_stats.csv",
        localization="results/localization.csv",
        mae="results/mae_table.csv",
    output:
        report(
            "results/figures/loss_comparison.png",
            caption="../report/loss_comparison.rst",
            category="8 Losses",
        ),
    log:
        "logs/loss_comparison_figure.log",
    conda:
        "../../envs/workflow.yaml"
    script:
        "../scripts/loss_comparison_figure.py"
