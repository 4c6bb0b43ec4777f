# The scorecard: faithfulness (AOPC, and across imputations), localization and sanity per model (backbone x loss) x analyzer.
# The per-image files (perturb.smk, localization.smk) give the per-fold values and the
# image bootstrap of the ranking agreement.


rule scorecard:
    input:
        stats="results/aopc_stats.csv",
        localization="results/localization.csv",
        sanity="results/sanity.csv",
        faithfulness="results/faithfulness.csv",
        pairs=over_models(PAIR_AOPC, analyzer=ANALYZERS),
        imputations=over_models(PAIR_IMPUTATIONS, analyzer=ANALYZERS),
        scores=over_models(LOCALIZATION_SCORES, fold=FOLDS, analyzer=ANALYZERS),
        # The registered map metrics' columns (none with `metrics: []`).
        metrics=["results/map_metrics.csv"] if config["metrics"] else [],
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
        # beats_random: the Holm-adjusted Wilcoxon p of aopc_stats.csv against alpha;
        # the rest for the bootstrap CI of Kendall's tau.
        settings=job_settings(**config["statistics"]),
    script:
        "../scripts/scorecard.py"
