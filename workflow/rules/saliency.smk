# Saliency: one HDF5 of maps per backbone x loss x fold x analyzer (TensorFlow env), then Fig. 2 and 5.


SALIENCY = "results/saliency/{backbone}/{loss}/fold{fold}/{analyzer}.h5"


wildcard_constraints:
    analyzer="|".join(config["analyzers"]),


rule saliency:
    input:
        script=f"{SCRIPTS}/saliency.py",
        model=f"{MODEL_DIR}/model.h5",
        predictions=f"{MODEL_DIR}/predictions.csv",
        dataset=DATASET,
        splits=SPLITS,
    output:
        maps=SALIENCY,
    log:
        "logs/saliency/{backbone}/{loss}/fold{fold}/{analyzer}.log",
    benchmark:
        "results/benchmarks/saliency/{backbone}/{loss}/fold{fold}/{analyzer}.tsv"
    conda:
        "../../envs/tensorflow.yaml"
    threads: 1  # per-job start-up dominates on a CPU: run two jobs side by side instead
    resources:
        gpu=1,
        mem_mb=config["saliency"]["memory_budget_mb"] + 3000,
        runtime=120,
    params:
        files=job_files,
        # This analyzer's full parameters (defaults + overrides), so the params show
        # what the job really runs; changing them reruns only its jobs.
        settings=job_settings(
            params=lambda w: analyzer_params(w.analyzer),
            memory_budget_mb=config["saliency"]["memory_budget_mb"],
            max_images_per_fold=config["saliency"]["max_images_per_fold"],
            graph_optimization=config["saliency"]["graph_optimization"],
        ),
    shell:
        TF_COMMAND


rule saliency_figures:
    input:
        maps=over_models(SALIENCY, fold=FOLDS, analyzer=config["analyzers"]),
        dataset=DATASET,
    output:
        comparison=report(
            "results/figures/saliency_comparison.png",
            caption="../report/saliency_comparison.rst",
            category="2 Saliency",
        ),
        best_worst=report(
            "results/figures/saliency_best_worst.png",
            caption="../report/saliency_best_worst.rst",
            category="2 Saliency",
        ),
    log:
        "logs/saliency_figures.log",
    conda:
        "../../envs/workflow.yaml"
    script:
        "../scripts/saliency_figures.py"
