# Statistics of the per-image AOPCs: CIs, paired tests, Friedman + critical difference.
# Inputs are the pair AOPC files of perturb.smk (PAIR_AOPC over BACKBONES x ANALYZERS).


rule aopc_statistics:
    input:
        pairs=expand(PAIR_AOPC, backbone=BACKBONES, analyzer=ANALYZERS),
    output:
        stats="results/aopc_stats.csv",
        pairwise="results/aopc_pairwise.csv",
        friedman="results/aopc_friedman.csv",
    params:
        settings=job_settings(**config["statistics"]),
    log:
        "logs/aopc_statistics.log",
    conda:
        "../../envs/workflow.yaml"
    script:
        "../scripts/aopc_statistics.py"


rule aopc_critical_difference_figure:
    input:
        stats="results/aopc_stats.csv",
        pairwise="results/aopc_pairwise.csv",
    output:
        "results/figures/aopc_critical_difference.png",
    params:
        settings=job_settings(alpha=config["statistics"]["alpha"]),
    log:
        "logs/aopc_critical_difference_figure.log",
    conda:
        "../../envs/workflow.yaml"
    script:
        "../scripts/aopc_critical_difference_figure.py"
