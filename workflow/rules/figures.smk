# Every figure of the figure registry (hcxai.figures.registry), drawn by one rule.
import re


wildcard_constraints:
    figure="|".join(FIGURES),


def instances(needed) -> str | list[str]:
    """The files a registry `Input` names: its result file for every value of the
    wildcards in its path (the run's models, folds, analyzers, shards, metrics), or the
    first of them; one path when the pattern has no wildcard."""
    if needed.result == "dataset":
        return DATASET
    pattern = result(needed.result)
    analyzers = ANALYZERS
    if needed.analyzer is not None:
        analyzers = [needed.analyzer if needed.analyzer in ANALYZERS else ANALYZERS[0]]
    if needed.result == "perturbation_shard":
        files = [
            path
            for values in expand("{backbone} {loss}", **MODELS)
            for analyzer in analyzers
            for path in shard_files(*values.split(), analyzer)
        ]
    else:
        values = {"fold": FOLDS, "analyzer": analyzers, "metric": config["metrics"], **MODELS}
        used = set(re.findall(r"{(\w+)}", pattern))
        if not used:
            return pattern
        files = expand(pattern, **{k: v for k, v in values.items() if k in used})
    return files[0] if needed.first else files


def figure_inputs(wildcards) -> dict[str, str | list[str]]:
    return {
        argument: instances(needed) for argument, needed in FIGURES[wildcards.figure].inputs.items()
    }


rule figure:
    input:
        unpack(figure_inputs),
    output:
        report(
            result("figure"),
            caption="../report/figure.rst",
            category=lambda w: FIGURES[w.figure].category,
        ),
    log:
        "logs/figures/{figure}.log",
    conda:
        "../../envs/workflow.yaml"
    params:
        # The figure's caption (workflow/report/figures/{figure}.rst, in the HTML report)
        # and the settings it draws with; a change redraws that figure only.
        caption=lambda w: (HCXAI_ROOT / f"workflow/report/figures/{w.figure}.rst").read_text(),
        settings=lambda w: json.dumps(FIGURES[w.figure].settings(config), sort_keys=True),
    script:
        "../scripts/figure.py"
