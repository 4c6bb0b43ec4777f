"""What a run really used, written beside its results: config, file hashes, versions."""

from __future__ import annotations

import hashlib
from importlib.metadata import version
from pathlib import Path

import hcxai
from hcxai.core.io import atomic_output

EFFECTIVE_CONFIG_HEADER = (
    "# The configuration this workflow run used: the config file given (or\n"
    "# config/config.yaml when none was) plus the schema's defaults, after\n"
    "# validation. Written by the workflow; edit the config file, not this.\n"
)


def write_effective_config(config: dict, out_path: str | Path) -> None:
    """Write the validated config (the rule's `settings`) as sorted YAML."""
    import yaml  # the workflow env has it; the TensorFlow env never writes this file

    text = yaml.safe_dump(config, sort_keys=True, default_flow_style=False)
    with atomic_output(out_path) as tmp:
        Path(tmp).write_text(EFFECTIVE_CONFIG_HEADER + text)


def sha256(path: str | Path) -> str:
    """The SHA-256 of a file: ties a saliency file to the model it explains."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """The versions that computed an output (TensorFlow env)."""
    return {p: version(p) for p in ("tensorflow", "innvestigate", "numpy", "h5py")} | {
        "hcxai": hcxai.__version__
    }
