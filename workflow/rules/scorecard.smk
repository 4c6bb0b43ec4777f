# The scorecard: faithfulness (AOPC, and across imputations), localization, sanity and the
# registered map metrics per model (backbone x loss) x analyzer.
# The per-image files (perturb.smk, localization.smk) give the per-fold values and the
# image bootstrap of the ranking agreement.


rule scorecard:
    input:
        stats=result("aopc_stats"),
        localization=result("localization"),
        sanity=result("sanity"),
        faithfulness=result("faithfulness"),
        pairs=over_models(result("aopc_per_image"), analyzer=ANALYZERS),
        imputations=over_models(result("aopc_per_imputation"), analyzer=ANALYZERS),
        scores=over_models(result("localization_scores"), fold=FOLDS, analyzer=ANALYZERS),
        # The registered map metrics' columns (none with `metrics: []`).
        metrics=result("map_metrics") if config["metrics"] else [],
    output:
        card=report(result("scorecard"), caption="../report/scorecard.rst", category="0 Scorecard"),
        agreement=report(
            result("ranking_agreement"),
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
        settings=job_settings(statistics=config["statistics"]),
    script:
        "../scripts/scorecard.py"
