# Localization: relevance against the annotated skull ellipse, per image, then summarised.


rule localization:
    input:
        saliency=result("saliency"),
        dataset=DATASET,
    output:
        scores=result("localization_scores"),
    log:
        "logs/localization/{backbone}/{loss}/fold{fold}/{analyzer}.log",
    benchmark:
        "results/benchmarks/localization/{backbone}/{loss}/fold{fold}/{analyzer}.tsv"
    conda:
        "../../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        # A changed band reruns these jobs (and so the summary and figure).
        settings=job_settings(band_px=config["localization"]["band_px"]),
    script:
        "../scripts/localization.py"


rule localization_summary:
    input:
        scores=over_models(result("localization_scores"), fold=FOLDS, analyzer=ANALYZERS),
    output:
        summary=report(
            result("localization"),
            caption="../report/localization.rst",
            category="5 Localization",
        ),
    log:
        "logs/localization_summary.log",
    conda:
        "../../envs/workflow.yaml"
    params:
        settings=job_settings(statistics=STATISTICS_CI),
    script:
        "../scripts/localization_summary.py"
