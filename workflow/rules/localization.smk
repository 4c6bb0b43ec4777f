# Localization: relevance against the annotated skull ellipse, per image, then summarised.

LOCALIZATION_SCORES = "results/localization/{backbone}/{loss}/fold{fold}/{analyzer}.csv"


rule localization:
    input:
        saliency=SALIENCY,
        dataset=DATASET,
    output:
        scores=LOCALIZATION_SCORES,
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
        over_models(LOCALIZATION_SCORES, fold=FOLDS, analyzer=ANALYZERS),
    output:
        report(
            "results/localization.csv",
            caption="../report/localization.rst",
            category="5 Localization",
        ),
    log:
        "logs/localization_summary.log",
    conda:
        "../../envs/workflow.yaml"
    params:
        statistics=job_settings(
            confidence=config["statistics"]["confidence"],
            bootstrap_samples=config["statistics"]["bootstrap_samples"],
            seed=config["statistics"]["seed"],
        ),
    script:
        "../scripts/localization_summary.py"


rule localization_figure:
    input:
        summary="results/localization.csv",
        sanity="results/sanity.csv",
    output:
        report(
            "results/figures/localization.png",
            caption="../report/localization_figure.rst",
            category="5 Localization",
        ),
    log:
        "logs/localization_figure.log",
    conda:
        "../../envs/workflow.yaml"
    script:
        "../scripts/localization_figure.py"
