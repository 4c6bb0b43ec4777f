# Statistics of the per-image AOPCs: CIs, paired tests, Friedman + critical difference.
# Inputs are the pair AOPC files of perturb.smk (PAIR_AOPC over models x ANALYZERS).


rule aopc_statistics:
    input:
        pairs=over_models(PAIR_AOPC, analyzer=ANALYZERS),
    output:
        stats=report(
            "results/aopc_stats.csv", caption="../report/aopc_stats.rst", category="4 Statistics"
        ),
        pairwise=report(
            "results/aopc_pairwise.csv",
            caption="../report/aopc_pairwise.rst",
            category="4 Statistics",
        ),
        friedman="results/aopc_friedman.csv",
    log:
        "logs/aopc_statistics.log",
    conda:
        "../../envs/workflow.yaml"
    params:
        settings=job_settings(**config["statistics"]),
    script:
        "../scripts/aopc_statistics.py"


rule aopc_critical_difference_figure:
    input:
        stats="results/aopc_stats.csv",
        pairwise="results/aopc_pairwise.csv",
    output:
        report(
            "results/figures/aopc_critical_difference.png",
            caption="../report/aopc_critical_difference.rst",
            category="4 Statistics",
        ),
    log:
        "logs/aopc_critical_difference_figure.log",
    conda:
        "../../envs/workflow.yaml"
    params:
        settings=job_settings(alpha=config["statistics"]["alpha"]),
    script:
        "../scripts/aopc_critical_difference_figure.py"
