# The scorecard: faithfulness (AOPC, and across imputations), localization and sanity per model (backbone x loss) x analyzer.


rule scorecard:
    input:
        stats="results/aopc_stats.csv",
        localization="results/localization.csv",
        sanity="results/sanity.csv",
        faithfulness="results/faithfulness.csv",
    output:
        card=report(
            "results/scorecard.csv", caption="../report/scorecard.rst", category="0 Scorecard"
        ),
        agreement=report(
            "results/ranking_agreement.csv",
            caption="../report/ranking_agreement.rst",
            category="0 Scorecard",
        ),
    log:
        "logs/scorecard.log",
    conda:
        "../../envs/workflow.yaml"
    params:
        # beats_random: the Holm-adjusted Wilcoxon p of aopc_stats.csv against this level.
        settings=job_settings(alpha=config["statistics"]["alpha"]),
    script:
        "../scripts/scorecard.py"
