# Training: one regression CNN per backbone x loss x fold (TensorFlow env), then the MAE table.

PREDICTIONS = over_models(f"{MODEL_DIR}/predictions.csv", fold=FOLDS)
METRICS = over_models(f"{MODEL_DIR}/metrics.json", fold=FOLDS)


rule train:
    input:
        script=f"{SCRIPTS}/train.py",
        dataset=DATASET,
        splits=SPLITS,
    output:
        model=f"{MODEL_DIR}/model.h5",
        history=f"{MODEL_DIR}/history.csv",
        predictions=f"{MODEL_DIR}/predictions.csv",
        metrics=f"{MODEL_DIR}/metrics.json",
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
        report("results/mae_table.csv", caption="../report/mae_table.rst", category="1 Prediction"),
    log:
        "logs/mae_table.log",
    conda:
        "../../envs/workflow.yaml"
    script:
        "../scripts/mae_table.py"


rule hc_agreement_figure:
    input:
        predictions=PREDICTIONS,
        metrics=METRICS,
        table="results/mae_table.csv",
    output:
        report(
            "results/figures/hc_agreement.png",
            caption="../report/hc_agreement.rst",
            category="1 Prediction",
        ),
    log:
        "logs/hc_agreement_figure.log",
    conda:
        "../../envs/workflow.yaml"
    script:
        "../scripts/hc_agreement_figure.py"
