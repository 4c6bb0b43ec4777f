# Provenance: the effective config (config file + schema defaults) beside the results.


rule effective_config:
    output:
        EFFECTIVE_CONFIG,
    params:
        # The whole config as a tracked param: any change rewrites the file.
        config=json.dumps(config, sort_keys=True),
    log:
        "logs/effective_config.log",
    conda:
        "../../envs/workflow.yaml"
    script:
        "../scripts/effective_config.py"
