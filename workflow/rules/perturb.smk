# Region perturbation: per-shard jobs (TensorFlow env), then AOPC tables and Fig. 3-4.

# Every imputation a perturb job scores, Table 1's first (perturbation.noise, .imputations).
IMPUTATIONS = list(Settings.from_config(config["perturbation"]).imputations)


wildcard_constraints:
    shard=r"\d+",


rule random_order:
    input:
        script=f"{SCRIPTS}/random_order.py",
        model=result("model"),
        dataset=DATASET,
        splits=SPLITS,
    output:
        shard=result("random_order_shard"),
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
        model=result("model"),
        saliency=result("saliency"),
        dataset=DATASET,
        # The random-order baseline is the same for every analyzer: computed once per shard.
        random_order=lambda w: (
            result("random_order_shard").format(**w)
            if "random" in config["perturbation"]["orders"]
            else []
        ),
    output:
        shard=result("perturbation_shard"),
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


rule aopc_per_image:
    input:
        shards=lambda w: shard_files(w.backbone, w.loss, w.analyzer),
    output:
        aopc=result("aopc_per_image"),
        curves=result("curves_per_analyzer"),
        imputations=result("aopc_per_imputation"),
    log:
        "logs/aopc/{backbone}/{loss}/{analyzer}.log",
    conda:
        "../../envs/workflow.yaml"
    params:
        settings=job_settings(imputations=IMPUTATIONS),
    script:
        "../scripts/aopc_per_image.py"


rule aopc_summary:
    input:
        pairs=over_models(result("aopc_per_image"), analyzer=ANALYZERS),
        curves=over_models(result("curves_per_analyzer"), analyzer=ANALYZERS),
    output:
        aopc=result("aopc"),
        table=report(result("aopc_table"), caption="../report/aopc_table.rst", category="3 AOPC"),
        curves=result("perturbation_curves"),
    log:
        "logs/aopc_summary.log",
    conda:
        "../../envs/workflow.yaml"
    script:
        "../scripts/aopc_summary.py"
