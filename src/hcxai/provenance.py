"""What a run really used, written beside its results: the effective config."""

from __future__ import annotations

import json
from pathlib import Path

from hcxai.io import atomic_output

EFFECTIVE_CONFIG_HEADER = (
    "# The configuration this workflow run used: the config file given (or\n"
    "# config/config.yaml when none was) plus the schema's defaults, after\n"
    "# validation. Written by the workflow; edit the config file, not this.\n"
)


def write_effective_config(config_json: str, out_path: str | Path) -> None:
    """Write the validated config (JSON text from the rule's params) as sorted YAML."""
    import yaml  # the workflow env has it; the TensorFlow env never writes this file

    text = yaml.safe_dump(json.loads(config_json), sort_keys=True, default_flow_style=False)
    with atomic_output(out_path) as tmp:
        Path(tmp).write_text(EFFECTIVE_CONFIG_HEADER + text)
