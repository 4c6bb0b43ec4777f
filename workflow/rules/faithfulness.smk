# Faithfulness across imputations: does an analyzer's AOPC ranking survive the way
# regions are removed (hcxai.evaluate.faithfulness.across_imputations)? From the pair files of perturb.smk.


rule faithfulness:
    input:
        pairs=over_models(PAIR_IMPUTATIONS, analyzer=ANALYZERS),
    output:
        table=report(
            "results/faithfulness.csv",
            caption="../report/faithfulness.rst",
            category="3 AOPC",
        ),
        agreement=report(
            "results/faithfulness_agreement.csv",
            caption="../report/faithfulness_agreement.rst",
            category="3 AOPC",
        ),
        tau="results/faithfulness_tau.csv",
    log:
        "logs/faithfulness.log",
    conda:
        "../../envs/workflow.yaml"
    params:
        settings=job_settings(**config["statistics"]),
    script:
        "../scripts/faithfulness.py"


rule faithfulness_figure:
    input:
        table="results/faithfulness.csv",
        agreement="results/faithfulness_agreement.csv",
    output:
        report(
            "results/figures/faithfulness_ranks.png",
            caption="../report/faithfulness_ranks.rst",
            category="3 AOPC",
        ),
    log:
        "logs/faithfulness_figure.log",
    conda:
        "../../envs/workflow.yaml"
    script:
        "../scripts/faithfulness_figure.py"
