# Map metrics from the registry (hcxai.evaluate.registry): one generic per-image rule fanned
# out over {metric} per model, one summary; the robustness metrics' perturbed-input maps.
from hcxai.evaluate.registry import metric

ROBUSTNESS = config["robustness"]
if ROBUSTNESS["fold"] >= config["folds"]:
    raise InputError(
        f"robustness.fold is {ROBUSTNESS['fold']} but the config has folds: {config['folds']}; "
        f"set robustness.fold below {config['folds']}"
    )


wildcard_constraints:
    metric="|".join(config["metrics"]) or "none",


# One analyzer built once on the robustness fold's model; its maps of a few test images
# and of `samples` perturbed copies of each.
rule robustness_maps:
    input:
        script=f"{SCRIPTS}/robustness_maps.py",
        model=of_fold("model", ROBUSTNESS["fold"]),
        dataset=DATASET,
        splits=SPLITS,
    output:
        maps=result("robustness_maps"),
    log:
        "logs/robustness/{backbone}/{loss}/{analyzer}.log",
    benchmark:
        "results/benchmarks/robustness/{backbone}/{loss}/{analyzer}.tsv"
    conda:
        "../../envs/tensorflow.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=config["saliency"]["memory_budget_mb"] + 3000,
        runtime=60,
    params:
        files=job_files,
        settings=job_settings(
            params=lambda w: analyzer_params(w.analyzer),
            robustness=ROBUSTNESS,
            memory_budget_mb=config["saliency"]["memory_budget_mb"],
            graph_optimization=config["saliency"]["graph_optimization"],
        ),
    shell:
        TF_COMMAND


rule map_metric:
    input:
        maps=metric_maps,
        dataset=DATASET,
    output:
        scores=result("metric_scores"),
    log:
        "logs/metrics/{backbone}/{loss}/{metric}.log",
    conda:
        "../../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/map_metric.py"


rule map_metric_summary:
    input:
        scores=over_models(result("metric_scores"), metric=config["metrics"]),
    output:
        summary=report(
            result("map_metrics"),
            caption="../report/map_metrics.rst",
            category="9 Complexity and robustness",
        ),
    log:
        "logs/map_metric_summary.log",
    conda:
        "../../envs/workflow.yaml"
    params:
        settings=job_settings(statistics=config["statistics"]),
    script:
        "../scripts/map_metric_summary.py"
