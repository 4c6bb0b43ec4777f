"""The code base stays ruff-clean and the workflow `snakemake --lint`-clean."""

import subprocess
import sys
from pathlib import Path

from conftest import REPO, SNAKEMAKE

RUFF = Path(sys.executable).parent / "ruff"


def test_ruff_clean():
    result = subprocess.run(
        [str(RUFF), "check", "src", "workflow/scripts", "tests", "benchmarks"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakemake_lint_clean():
    result = subprocess.run(
        [str(SNAKEMAKE), "--lint", "--configfile", "config/test.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
