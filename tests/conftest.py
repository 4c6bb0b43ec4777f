"""Shared fixtures: the repository, small phantom folders, and a Snakemake runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from hcxai.data import phantom
from hcxai.data.ellipse import Ellipse
from hcxai.data.hc18 import ELLIPSE_FIELDS, FORMAT_VERSION

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


@pytest.fixture(scope="session")
def phantom_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six phantoms in the HC18 layout, made once per session (treat as read-only)."""
    root = tmp_path_factory.mktemp("phantom")
    phantom.generate(root, n_images=6, seed=11)
    return root


@pytest.fixture
def hc18_copy(phantom_root: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the phantom folder, to be damaged by a test."""
    target = tmp_path / "HC18"
    shutil.copytree(phantom_root, target)
    return target


def write_config(path: Path, base: str = "test.yaml", **overrides: object) -> Path:
    """A config file: `config/<base>` with top-level keys (or dicts merged one level) replaced."""
    import yaml  # the workflow env has it; tests/tf do not need it

    config = yaml.safe_load((REPO / "config" / base).read_text())
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    path.write_text(yaml.safe_dump(config))
    return path


def run_snakemake(
    workdir: Path, configfile: Path, *args: str, check: bool = True, timeout: int = 1800
) -> subprocess.CompletedProcess:
    """Run this repository's workflow in `workdir` (results stay out of the checkout)."""
    command = [
        str(SNAKEMAKE),
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(workdir),
        "--configfile",
        str(configfile),
        *args,
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env={**os.environ}
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({result.returncode}):\n{result.stdout[-4000:]}\n"
            f"{result.stderr[-8000:]}"
        )
    return result


@pytest.fixture(scope="session")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole workflow on config/test.yaml, run once locally; its working directory."""
    workdir = tmp_path_factory.mktemp("local_run")
    run_snakemake(workdir, REPO / "config" / "test.yaml", "--cores", "2")
    return workdir


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say loudly when the SLURM cluster tests did not run (they skip only outside CI)."""
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if "test_slurm" in report.nodeid
    ]
    if skipped:
        reason = skipped[0].longrepr[-1] if isinstance(skipped[0].longrepr, tuple) else ""
        terminalreporter.write_sep(
            "=", f"SLURM cluster tests SKIPPED ({len(skipped)}): {reason}", yellow=True, bold=True
        )


def stored_row(ellipse: Ellipse) -> list[float]:
    """`ellipse_resized` as ingest stores it: in the map's index frame."""
    return [ellipse.cx, ellipse.cy, ellipse.a, ellipse.b, 0.0]


def write_dataset(
    path: Path, ids: list[str], ellipses: list[Ellipse], size: int, images: np.ndarray | None = None
) -> None:
    """A dataset cache with the fields `load_dataset` reads; blank images unless given
    (the edge baseline of a blank image is NaN)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as h5:
        h5.attrs.update(format_version=FORMAT_VERSION, ellipse_fields=ELLIPSE_FIELDS)
        blank = np.zeros((len(ids), size, size), np.uint8)
        h5["images"] = blank if images is None else images.astype(np.uint8)
        h5.create_dataset("image_id", data=ids, dtype=h5py.string_dtype())
        for key in ("pixel_size_mm", "hc_mm", "hc_px"):
            h5[key] = np.ones(len(ids))
        h5["ellipse_resized"] = np.array([stored_row(e) for e in ellipses])
        h5["original_size"] = np.tile([800, 540], (len(ids), 1))
