# Region perturbation: per-shard jobs (TensorFlow env), then AOPC tables and Fig. 3-4.

ANALYZERS = config["analyzers"]
FIGURE3_ANALYZER = "gradient" if "gradient" in ANALYZERS else ANALYZERS[0]  # as the paper
RANDOM_ORDER = "results/perturbation/{backbone}/fold{fold}/random_order/shard{shard}.csv"


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
    params:
        python=TF_PYTHON,
        files=job_files,
        settings=job_settings(
            perturbation=config["perturbation"],
            max_images_per_fold=config["saliency"]["max_images_per_fold"],
        ),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    log:
        "logs/perturb/{backbone}/fold{fold}/random_order/shard{shard}.log",
    benchmark:
        "results/benchmarks/perturb/{backbone}/fold{fold}/random_order/shard{shard}.tsv"
    conda:
        "../../envs/tensorflow.yaml"
    shell:
        "{params.python} {input.script} --threads {threads} {params.files:q} {params.settings:q} > {log} 2>&1"


rule perturb:
    input:
        script=f"{SCRIPTS}/perturb.py",
        model=f"{MODEL_DIR}/model.h5",
        saliency="results/saliency/{backbone}/fold{fold}/{analyzer}.h5",
        dataset=DATASET,
        # The random-order baseline is the same for every analyzer: computed once per shard.
        random_order=lambda w: (
            RANDOM_ORDER.format(**w) if "random" in config["perturbation"]["orders"] else []
        ),
    output:
        shard="results/perturbation/{backbone}/fold{fold}/{analyzer}/shard{shard}.csv",
    params:
        python=TF_PYTHON,
        files=job_files,
        settings=job_settings(perturbation=config["perturbation"]),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    log:
        "logs/perturb/{backbone}/fold{fold}/{analyzer}/shard{shard}.log",
    benchmark:
        "results/benchmarks/perturb/{backbone}/fold{fold}/{analyzer}/shard{shard}.tsv"
    conda:
        "../../envs/tensorflow.yaml"
    shell:
        "{params.python} {input.script} --threads {threads} {params.files:q} {params.settings:q} > {log} 2>&1"


rule aopc_pair:
    input:
        lambda w: shard_files(w.backbone, w.analyzer),
    output:
        "results/aopc/{backbone}/{analyzer}.csv",
    log:
        "logs/aopc/{backbone}/{analyzer}.log",
    conda:
        "../../envs/workflow.yaml"
    script:
        "../scripts/aopc_pair.py"


rule aopc_summary:
    input:
        pairs=expand("results/aopc/{backbone}/{analyzer}.csv", backbone=BACKBONES, analyzer=ANALYZERS),
        shards=[f for b in BACKBONES for a in ANALYZERS for f in shard_files(b, a)],
    output:
        aopc="results/aopc.csv",
        table="results/aopc_table.csv",
        curves="results/perturbation_curves.csv",
        figure="results/figures/perturbation_curves.png",
    log:
        "logs/aopc_summary.log",
    conda:
        "../../envs/workflow.yaml"
    script:
        "../scripts/aopc_summary.py"


rule perturbation_process_figure:
    input:
        shard=f"results/perturbation/{BACKBONES[0]}/fold0/{FIGURE3_ANALYZER}/shard0.csv",
        saliency=f"results/saliency/{BACKBONES[0]}/fold0/{FIGURE3_ANALYZER}.h5",
        dataset=DATASET,
    output:
        "results/figures/perturbation_process.png",
    params:
        perturbation=job_settings(**config["perturbation"]),
    log:
        "logs/perturbation_process_figure.log",
    conda:
        "../../envs/workflow.yaml"
    script:
        "../scripts/perturbation_process_figure.py"
