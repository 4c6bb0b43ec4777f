# Provenance: the effective config (config file + schema defaults) beside the results.


rule effective_config:
    output:
        config=EFFECTIVE_CONFIG,
    log:
        "logs/effective_config.log",
    conda:
        "../../envs/workflow.yaml"
    params:
        # The whole config as a tracked param: any change rewrites the file.
        settings=job_settings(config=config),
    script:
        "../scripts/effective_config.py"
