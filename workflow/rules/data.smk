# Data: phantoms (embedded default) or a real HC18 folder -> dataset cache -> K-fold splits.


if IS_PHANTOM:

    rule phantoms:
        output:
            csv=DATA_CSV,
            images=directory(DATA_IMAGES),
        log:
            "logs/phantoms.log",
        conda:
            "../../envs/workflow.yaml"
        threads: 2
        params:
            settings=job_settings(
                n_images=config["dataset"]["n_images"], seed=config["dataset"]["seed"]
            ),
        script:
            "../scripts/phantoms.py"


rule ingest:
    input:
        **ingest_input(),
    output:
        dataset="resources/dataset_{size}.h5",
    log:
        "logs/ingest_{size}.log",
    wildcard_constraints:
        size=r"\d+",
    conda:
        "../../envs/workflow.yaml"
    params:
        # The folder (also when it is absent and ingest must say so) and its kind,
        # as sorted JSON: a reordered config file is no change.
        settings=job_settings(dataset=config["dataset"]),
    script:
        "../scripts/ingest.py"


rule split:
    input:
        dataset=DATASET,
    output:
        splits=SPLITS,
    log:
        "logs/split.log",
    conda:
        "../../envs/workflow.yaml"
    params:
        settings=job_settings(
            folds=config["folds"],
            seed=config["dataset"]["seed"],
            group_by=config["dataset"]["group_by"],
        ),
    script:
        "../scripts/split.py"
