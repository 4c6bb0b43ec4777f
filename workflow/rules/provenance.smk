# Provenance: the effective config (config file + schema defaults) beside the results.


rule effective_config:
    output:
        EFFECTIVE_CONFIG,
    log:
        "logs/effective_config.log",
    conda:
        "../../envs/workflow.yaml"
    params:
        # The whole config as a tracked param: any change rewrites the file.
        config=json.dumps(config, sort_keys=True),
    script:
        "../scripts/effective_config.py"
