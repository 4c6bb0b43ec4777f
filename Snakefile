# hcxai: explainability for regression CNNs that estimate fetal head circumference.
# Zhang, Petitjean, Yger, Ainouz (iMIMIC 2020). See README.md.
import sys
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")

# This checkout, wherever the workflow runs from (its own folder, or another
# workflow's as a `module`): scripts, the library and .venv-tf are found here.
HCXAI_ROOT = Path(workflow.current_basedir).resolve()
# The library is imported from src/ at parse time, so Snakemake needs no hcxai
# install (snakemake --lint in a bare environment, the workflow catalog).
sys.path.insert(0, str(HCXAI_ROOT / "src"))


# The config files given with --configfile are the run's whole config (several are
# merged in order, e.g. config/config.yaml config/losses.yaml): the schema's defaults
# fill what they leave out, nothing comes from another file. config/config.yaml (the
# embedded default) is read only when none is given.
if not workflow.config_settings.configfiles:

    configfile: f"{HCXAI_ROOT}/config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/provenance.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/saliency.smk"
include: "workflow/rules/perturb.smk"
include: "workflow/rules/faithfulness.smk"
include: "workflow/rules/stats.smk"
include: "workflow/rules/localization.smk"
include: "workflow/rules/sanity.smk"
include: "workflow/rules/scorecard.smk"
include: "workflow/rules/meta.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/figures.smk"


# Tables, figures and summaries take seconds and little memory: on a cluster they run
# on the submit host (as Snakemake's local jobs) instead of waiting in the queue.
# Every job that trains, explains, perturbs or scores a map still goes to the cluster.
localrules:
    all,
    effective_config,
    split,
    mae_table,
    aopc_per_image,
    aopc_summary,
    aopc_statistics,
    faithfulness,
    localization_summary,
    sanity_summary,
    meta_summary,
    error_explanation,
    scorecard,
    map_metric,
    map_metric_summary,
    figure,


onstart:
    # The backbones with a training job to run (Snakemake's DAG, pinned 9.x API).
    check_weights(
        {j.wildcards.backbone for j in workflow.dag.needrun_jobs() if j.rule.name == "train"}
    )


rule all:
    default_target: True
    input:
        final_targets(),
