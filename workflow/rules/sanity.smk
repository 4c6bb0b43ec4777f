# Sanity: cascading model randomisation (Adebayo et al. 2018), maps per stage, then similarity.
from hcxai.evaluate.randomisation.model_maps import check_settings as check_sanity_settings

SANITY = config["sanity"]

check_sanity_settings(SANITY, config["folds"])


# Adebayo et al.'s data randomisation: the sanity fold's model trained on shuffled HC targets.
use rule train as train_permuted_labels with:
    output:
        model=result("permuted_labels_model"),
        history=result("permuted_labels_history"),
        predictions=result("permuted_labels_predictions"),
        metrics=result("permuted_labels_training_metrics"),
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
        model=of_fold("model", SANITY["fold"]),
        permuted_model=result("permuted_labels_model"),
        dataset=DATASET,
        splits=SPLITS,
    output:
        maps=result("sanity_maps"),
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
        maps=result("sanity_maps"),
        dataset=DATASET,
    output:
        pair=result("sanity_pair"),
    log:
        "logs/sanity/{backbone}/{loss}/{analyzer}_similarity.log",
    conda:
        "../../envs/workflow.yaml"
    params:
        settings=job_settings(statistics=STATISTICS_CI, band_px=config["localization"]["band_px"]),
    script:
        "../scripts/sanity_similarity.py"


rule sanity_summary:
    input:
        pairs=over_models(result("sanity_pair"), analyzer=ANALYZERS),
    output:
        summary=report(result("sanity"), caption="../report/sanity.rst", category="6 Sanity"),
    log:
        "logs/sanity_summary.log",
    conda:
        "../../envs/workflow.yaml"
    script:
        "../scripts/sanity_summary.py"
