# Sanity: cascading model randomisation (Adebayo et al. 2018), maps per stage, then similarity.
from hcxai.evaluate.randomisation.model_maps import check_settings as check_sanity_settings

SANITY = config["sanity"]
SANITY_MAPS = "results/sanity/{backbone}/{loss}/{analyzer}.h5"
SANITY_PAIR = "results/sanity/{backbone}/{loss}/{analyzer}.csv"
PERMUTED_MODEL_DIR = "results/models/{backbone}/{loss}/permuted_labels"

check_sanity_settings(SANITY, config["folds"])


# Adebayo et al.'s data randomisation: the sanity fold's model trained on shuffled HC targets.
use rule train as train_permuted_labels with:
    output:
        model=f"{PERMUTED_MODEL_DIR}/model.h5",
        history=f"{PERMUTED_MODEL_DIR}/history.csv",
        predictions=f"{PERMUTED_MODEL_DIR}/predictions.csv",
        metrics=f"{PERMUTED_MODEL_DIR}/metrics.json",
    log:
        "logs/train/{backbone}/{loss}/permuted_labels.log",
    benchmark:
        "results/benchmarks/train/{backbone}/{loss}/permuted_labels.tsv"
    params:
        files=job_files,
        settings=job_settings(
            training=training_settings,
            augment_factor=config["augment_factor"],
            permuted_labels_fold=SANITY["fold"],
        ),


# One analyzer built once on the fold's model; each stage's weights are written into it,
# then the permuted-label model's.
rule sanity_maps:
    input:
        script=f"{SCRIPTS}/sanity_maps.py",
        model=f"results/models/{{backbone}}/{{loss}}/fold{SANITY['fold']}/model.h5",
        permuted_model=f"{PERMUTED_MODEL_DIR}/model.h5",
        dataset=DATASET,
        splits=SPLITS,
    output:
        maps=SANITY_MAPS,
    log:
        "logs/sanity/{backbone}/{loss}/{analyzer}.log",
    benchmark:
        "results/benchmarks/sanity/{backbone}/{loss}/{analyzer}.tsv"
    conda:
        "../../envs/tensorflow.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=config["saliency"]["memory_budget_mb"] + 3000,
        runtime=120,
    params:
        files=job_files,
        settings=job_settings(
            params=lambda w: analyzer_params(w.analyzer),
            sanity=SANITY,
            memory_budget_mb=config["saliency"]["memory_budget_mb"],
            graph_optimization=config["saliency"]["graph_optimization"],
        ),
    shell:
        TF_COMMAND


rule sanity_similarity:
    input:
        maps=SANITY_MAPS,
        dataset=DATASET,
    output:
        SANITY_PAIR,
    log:
        "logs/sanity/{backbone}/{loss}/{analyzer}_similarity.log",
    conda:
        "../../envs/workflow.yaml"
    params:
        statistics=job_settings(
            confidence=config["statistics"]["confidence"],
            bootstrap_samples=config["statistics"]["bootstrap_samples"],
            seed=config["statistics"]["seed"],
        ),
        band_px=config["localization"]["band_px"],
    script:
        "../scripts/sanity_similarity.py"


rule sanity_summary:
    input:
        over_models(SANITY_PAIR, analyzer=config["analyzers"]),
    output:
        report("results/sanity.csv", caption="../report/sanity.rst", category="6 Sanity"),
    log:
        "logs/sanity_summary.log",
    conda:
        "../../envs/workflow.yaml"
    script:
        "../scripts/sanity_summary.py"


rule sanity_figure:
    input:
        maps=over_models(SANITY_MAPS, analyzer=config["analyzers"]),
        summary="results/sanity.csv",
        dataset=DATASET,
    output:
        report(
            "results/figures/sanity.png",
            caption="../report/sanity_figure.rst",
            category="6 Sanity",
        ),
    log:
        "logs/sanity_figure.log",
    conda:
        "../../envs/workflow.yaml"
    script:
        "../scripts/sanity_figure.py"
