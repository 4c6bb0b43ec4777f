# Saliency: one HDF5 of maps per backbone x loss x fold x analyzer (TensorFlow env), then Fig. 2 and 5.


wildcard_constraints:
    analyzer="|".join(config["analyzers"]),


rule saliency:
    input:
        script=f"{SCRIPTS}/saliency.py",
        model=result("model"),
        predictions=result("predictions"),
        dataset=DATASET,
        splits=SPLITS,
    output:
        maps=result("saliency"),
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
