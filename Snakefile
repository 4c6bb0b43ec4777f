# hcxai: explainability for regression CNNs that estimate fetal head circumference.
# Zhang, Petitjean, Yger, Ainouz (iMIMIC 2020). See README.md.
from snakemake.utils import min_version, validate

min_version("9.0")


# The config files given with --configfile are the run's whole config (several are
# merged in order, e.g. config/config.yaml config/losses.yaml): the schema's defaults
# fill what they leave out, nothing comes from another file. config/config.yaml (the
# embedded default) is read only when none is given.
if not workflow.config_settings.configfiles:

    configfile: f"{workflow.basedir}/config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/provenance.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/saliency.smk"
include: "workflow/rules/perturb.smk"
include: "workflow/rules/stats.smk"
include: "workflow/rules/localization.smk"
include: "workflow/rules/sanity.smk"
include: "workflow/rules/scorecard.smk"
include: "workflow/rules/meta.smk"
include: "workflow/rules/losses.smk"


onstart:
    # The backbones with a training job to run (Snakemake's DAG, pinned 9.x API).
    check_weights({j.wildcards.backbone for j in workflow.dag.needrun_jobs() if j.rule.name == "train"})


rule all:
    input:
        final_targets(),
    default_target: True
