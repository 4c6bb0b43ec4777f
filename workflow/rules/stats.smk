# Statistics of the per-image AOPCs: CIs, paired tests, Friedman + critical difference.
# Inputs are the pair AOPC files of perturb.smk (result("aopc_per_image") over models x ANALYZERS).


rule aopc_statistics:
    input:
        pairs=over_models(result("aopc_per_image"), analyzer=ANALYZERS),
    output:
        stats=report(
            result("aopc_stats"), caption="../report/aopc_stats.rst", category="4 Statistics"
        ),
        pairwise=report(
            result("aopc_pairwise"),
            caption="../report/aopc_pairwise.rst",
            category="4 Statistics",
        ),
        friedman=result("aopc_friedman"),
    log:
        "logs/aopc_statistics.log",
    conda:
        "../../envs/workflow.yaml"
    params:
        settings=job_settings(statistics=config["statistics"]),
    script:
        "../scripts/aopc_statistics.py"
