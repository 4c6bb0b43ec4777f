# Meta-explanations (SpRAy) per backbone x analyzer, and explanation quality vs prediction error.

META_TABLE = "results/meta/{backbone}/{analyzer}.csv"


rule meta_explanation:
    input:
        # Analyzer-major: the script takes len(FOLDS) files per analyzer, in ANALYZERS' order.
        maps=expand(
            "results/saliency/{{backbone}}/fold{fold}/{analyzer}.h5",
            analyzer=ANALYZERS,
            fold=FOLDS,
        ),
    output:
        tables=expand(META_TABLE, backbone="{backbone}", analyzer=ANALYZERS),
        figures=[
            report(
                path,
                caption="../report/meta_explanation.rst",
                category="7 Meta-explanations",
                subcategory="{backbone}",
            )
            for path in expand("results/meta/{{backbone}}/{analyzer}.png", analyzer=ANALYZERS)
        ],
    params:
        # One job per backbone: SpRAy takes a second, the job's imports most of the rest.
        settings=job_settings(**config["meta"]),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    log:
        "logs/meta/{backbone}.log",
    benchmark:
        "results/benchmarks/meta/{backbone}.tsv"
    conda:
        "../../envs/workflow.yaml"
    script:
        "../scripts/meta_explanation.py"


rule meta_summary:
    input:
        expand(META_TABLE, backbone=BACKBONES, analyzer=ANALYZERS),
    output:
        report("results/meta.csv", caption="../report/meta.rst", category="7 Meta-explanations"),
    log:
        "logs/meta_summary.log",
    conda:
        "../../envs/workflow.yaml"
    script:
        "../scripts/meta_summary.py"


rule error_explanation:
    input:
        meta=expand(META_TABLE, backbone=BACKBONES, analyzer=ANALYZERS),
        localization=expand(
            LOCALIZATION_SCORES, backbone=BACKBONES, fold=FOLDS, analyzer=ANALYZERS
        ),
        aopc=expand("results/aopc/{backbone}/{analyzer}.csv", backbone=BACKBONES, analyzer=ANALYZERS),
    output:
        report(
            "results/error_explanation.csv",
            caption="../report/error_explanation.rst",
            category="7 Meta-explanations",
        ),
    params:
        statistics=job_settings(**config["statistics"]),
    log:
        "logs/error_explanation.log",
    conda:
        "../../envs/workflow.yaml"
    script:
        "../scripts/error_explanation.py"
