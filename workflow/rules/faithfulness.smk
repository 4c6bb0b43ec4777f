# Faithfulness across imputations: does an analyzer's AOPC ranking survive the way
# regions are removed (hcxai.evaluate.faithfulness.across_imputations)? From the pair files
# of perturb.smk.


rule faithfulness:
    input:
        pairs=over_models(result("aopc_per_imputation"), analyzer=ANALYZERS),
    output:
        table=report(
            result("faithfulness"),
            caption="../report/faithfulness.rst",
            category="3 AOPC",
        ),
        agreement=report(
            result("faithfulness_agreement"),
            caption="../report/faithfulness_agreement.rst",
            category="3 AOPC",
        ),
        tau=result("faithfulness_tau"),
    log:
        "logs/faithfulness.log",
    conda:
        "../../envs/workflow.yaml"
    params:
        settings=job_settings(statistics=config["statistics"]),
    script:
        "../scripts/faithfulness.py"
