# Training: one regression CNN per backbone x loss x fold (TensorFlow env), then the MAE table.

PREDICTIONS = over_models(result("predictions"), fold=FOLDS)
METRICS = over_models(result("training_metrics"), fold=FOLDS)


rule train:
    input:
        script=f"{SCRIPTS}/train.py",
        dataset=DATASET,
        splits=SPLITS,
    output:
        model=result("model"),
        history=result("history"),
        predictions=result("predictions"),
        metrics=result("training_metrics"),
    log:
        "logs/train/{backbone}/{loss}/fold{fold}.log",
    benchmark:
        "results/benchmarks/train/{backbone}/{loss}/fold{fold}.tsv"
    conda:
        "../../envs/tensorflow.yaml"
    threads: 1  # on a CPU two 1-thread trainings side by side beat one 2-thread (benchmarks)
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=240,
    params:
        files=job_files,
        settings=job_settings(training=training_settings, augment_factor=config["augment_factor"]),
    shell:
        TF_COMMAND


rule mae_table:
    input:
        predictions=PREDICTIONS,
        metrics=METRICS,
    output:
        table=report(
            result("mae_table"), caption="../report/mae_table.rst", category="1 Prediction"
        ),
    log:
        "logs/mae_table.log",
    conda:
        "../../envs/workflow.yaml"
    script:
        "../scripts/mae_table.py"
