# Region perturbation: per-shard jobs (TensorFlow env), then AOPC tables and Fig. 3-4.

ANALYZERS = config["analyzers"]
FIGURE3_ANALYZER = "gradient" if "gradient" in ANALYZERS else ANALYZERS[0]  # as the paper
RANDOM_ORDER = "results/perturbation/{backbone}/{loss}/fold{fold}/random_order/shard{shard}.csv"
PAIR_AOPC = "results/aopc/{backbone}/{loss}/{analyzer}.csv"
PAIR_CURVES = "results/curves/{backbone}/{loss}/{analyzer}.csv"
PAIR_IMPUTATIONS = "results/faithfulness/{backbone}/{loss}/{analyzer}.csv"
# Every imputation a perturb job scores, Table 1's first (perturbation.noise, .imputations).
IMPUTATIONS = list(Settings.from_config(config["perturbation"]).imputations)


wildcard_constraints:
    shard=r"\d+",


rule random_order:
    input:
        script=f"{SCRIPTS}/random_order.py",
        model=f"{MODEL_DIR}/model.h5",
        dataset=DATASET,
        splits=SPLITS,
    output:
        shard=RANDOM_ORDER,
    log:
        "logs/perturb/{backbone}/{loss}/fold{fold}/random_order/shard{shard}.log",
    benchmark:
        "results/benchmarks/perturb/{backbone}/{loss}/fold{fold}/random_order/shard{shard}.tsv"
    conda:
        "../../envs/tensorflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        files=job_files,
        settings=job_settings(
            perturbation=config["perturbation"],
            max_images_per_fold=config["saliency"]["max_images_per_fold"],
        ),
    shell:
        TF_COMMAND


rule perturb:
    input:
        script=f"{SCRIPTS}/perturb.py",
        model=f"{MODEL_DIR}/model.h5",
        saliency=SALIENCY,
        dataset=DATASET,
        # The random-order baseline is the same for every analyzer: computed once per shard.
        random_order=lambda w: (
            RANDOM_ORDER.format(**w) if "random" in config["perturbation"]["orders"] else []
        ),
    output:
        shard="results/perturbation/{backbone}/{loss}/fold{fold}/{analyzer}/shard{shard}.csv",
    log:
        "logs/perturb/{backbone}/{loss}/fold{fold}/{analyzer}/shard{shard}.log",
    benchmark:
        "results/benchmarks/perturb/{backbone}/{loss}/fold{fold}/{analyzer}/shard{shard}.tsv"
    conda:
        "../../envs/tensorflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        files=job_files,
        settings=job_settings(perturbation=config["perturbation"]),
    shell:
        TF_COMMAND


rule aopc_pair:
    input:
        lambda w: shard_files(w.backbone, w.loss, w.analyzer),
    output:
        aopc=PAIR_AOPC,
        curves=PAIR_CURVES,
        imputations=PAIR_IMPUTATIONS,
    log:
        "logs/aopc/{backbone}/{loss}/{analyzer}.log",
    conda:
        "../../envs/workflow.yaml"
    params:
        imputations=IMPUTATIONS,
    script:
        "../scripts/aopc_pair.py"


rule aopc_summary:
    input:
        pairs=over_models(PAIR_AOPC, analyzer=ANALYZERS),
        curves=over_models(PAIR_CURVES, analyzer=ANALYZERS),
    output:
        aopc="results/aopc.csv",
        table=report(
            "results/aopc_table.csv", caption="../report/aopc_table.rst", category="3 AOPC"
        ),
        curves="results/perturbation_curves.csv",
    log:
        "logs/aopc_summary.log",
    conda:
        "../../envs/workflow.yaml"
    script:
        "../scripts/aopc_summary.py"


rule perturbation_curves_figure:
    input:
        "results/perturbation_curves.csv",
    output:
        report(
            "results/figures/perturbation_curves.png",
            caption="../report/perturbation_curves.rst",
            category="3 AOPC",
        ),
    log:
        "logs/perturbation_curves_figure.log",
    conda:
        "../../envs/workflow.yaml"
    script:
        "../scripts/perturbation_curves_figure.py"


rule perturbation_process_figure:
    input:
        # The first explained image: the first shard of the first model's first fold.
        shard=shard_files(BACKBONES[0], LOSSES[0], FIGURE3_ANALYZER)[0],
        saliency=SALIENCY.format(
            backbone=BACKBONES[0], loss=LOSSES[0], fold=FOLDS[0], analyzer=FIGURE3_ANALYZER
        ),
        dataset=DATASET,
    output:
        report(
            "results/figures/perturbation_process.png",
            caption="../report/perturbation_process.rst",
            category="3 AOPC",
        ),
    log:
        "logs/perturbation_process_figure.log",
    conda:
        "../../envs/workflow.yaml"
    params:
        perturbation=job_settings(**config["perturbation"]),
    script:
        "../scripts/perturbation_process_figure.py"
