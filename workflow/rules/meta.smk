# Meta-explanations (SpRAy) per model (backbone x loss) x analyzer, and explanation quality
# vs prediction error.


rule meta_explanation:
    input:
        # Analyzer-major: the script takes len(FOLDS) files per analyzer, in ANALYZERS' order.
        maps=expand(result("saliency"), analyzer=ANALYZERS, fold=FOLDS, allow_missing=True),
    output:
        tables=expand(result("meta_table"), analyzer=ANALYZERS, allow_missing=True),
        stability=result("meta_stability"),
        figures=[
            report(
                path,
                caption="../report/meta_explanation.rst",
                category="7 Meta-explanations",
                subcategory="{backbone} {loss}",
            )
            for path in expand(
                result("meta_figure"),
                analyzer=ANALYZERS,
                allow_missing=True,
            )
        ],
    log:
        "logs/meta/{backbone}/{loss}.log",
    benchmark:
        "results/benchmarks/meta/{backbone}/{loss}.tsv"
    conda:
        "../../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        # One job per model: SpRAy (with its stability reclusterings) takes seconds.
        settings=job_settings(meta=config["meta"]),
    script:
        "../scripts/meta_explanation.py"


rule meta_summary:
    input:
        tables=over_models(result("meta_table"), analyzer=ANALYZERS),
        stability=over_models(result("meta_stability")),
    output:
        summary=report(result("meta"), caption="../report/meta.rst", category="7 Meta-explanations"),
    log:
        "logs/meta_summary.log",
    conda:
        "../../envs/workflow.yaml"
    params:
        settings=job_settings(statistics=config["statistics"]),
    script:
        "../scripts/meta_summary.py"


rule error_explanation:
    input:
        meta=over_models(result("meta_table"), analyzer=ANALYZERS),
        localization=over_models(result("localization_scores"), fold=FOLDS, analyzer=ANALYZERS),
        aopc=over_models(result("aopc_per_image"), analyzer=ANALYZERS),
    output:
        table=report(
            result("error_explanation"),
            caption="../report/error_explanation.rst",
            category="7 Meta-explanations",
        ),
    log:
        "logs/error_explanation.log",
    conda:
        "../../envs/workflow.yaml"
    params:
        settings=job_settings(statistics=config["statistics"]),
    script:
        "../scripts/error_explanation.py"
