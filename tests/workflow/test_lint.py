"""The code base stays ruff-clean and the workflow `snakemake --lint`-clean."""

import os
import re
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


def test_snakefmt_clean():
    """The rule files are as snakefmt (pinned, pyproject's line length) formats them."""
    result = subprocess.run(
        [str(RUFF.parent / "snakefmt"), "--check", "Snakefile", "workflow/rules"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# Runs Snakemake's command line in this interpreter with the hcxai install taken off
# the path first (the editable install's src/ entry and PYTHONPATH), as in an
# environment that has Snakemake but not hcxai (the workflow catalog's linter).
WITHOUT_HCXAI = """
import importlib.util, sys
sys.path[:] = [p for p in sys.path if not p.rstrip("/").endswith("src")]
assert importlib.util.find_spec("hcxai") is None, "hcxai is still importable"
from snakemake.cli import main
sys.argv = ["snakemake", *sys.argv[1:]]
main()
"""


def test_snakemake_lint_without_hcxai_installed(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [
            *(sys.executable, "-c", WITHOUT_HCXAI, "-s", str(REPO / "Snakefile")),
            *("-d", str(tmp_path), "--lint", "--configfile", str(REPO / "config/test.yaml")),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "good condition" in result.stdout + result.stderr


def job_counts(output: str) -> dict[str, int]:
    """`rule: count` from a dry run's job stats table (module prefixes removed)."""
    table = output[output.index("Job stats:") : output.index("total")]
    rows = re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.MULTILINE)
    return {name.removeprefix("hcxai_"): int(count) for name, count in rows}


def test_the_workflow_runs_as_a_module_of_another_workflow(tmp_path):
    """The README's host workflow: `module hcxai` + `use rule * from hcxai`, in another
    folder; its dry run has the same jobs as running hcxai's own Snakefile there."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "Snakefile").write_text(
        HOST_WORKFLOW.format(snakefile=REPO / "Snakefile", configfile=REPO / "config/test.yaml")
    )
    as_module = subprocess.run(
        [str(SNAKEMAKE), "-n", "-d", str(host), "-s", str(host / "Snakefile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert as_module.returncode == 0, as_module.stdout[-3000:] + as_module.stderr[-3000:]
    # The scripts, found in this checkout, not in the host's folder.
    assert f"{REPO}/workflow/scripts/train.py" in as_module.stdout
    direct = subprocess.run(
        [
            *(str(SNAKEMAKE), "-n", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path / "direct")),
            *("--configfile", str(REPO / "config/test.yaml")),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert job_counts(as_module.stdout) == job_counts(direct.stdout)


HOST_WORKFLOW = """\
configfile: "{configfile}"


module hcxai:
    snakefile:
        "{snakefile}"
    config:
        config


use rule * from hcxai as hcxai_*
"""
