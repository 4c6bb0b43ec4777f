"""Every workflow-side module imports in the workflow env, which has no TensorFlow at all:
none of them reaches the TensorFlow side (tests/tf/test_environment.py checks the TF env)."""

import subprocess
import sys
from pathlib import Path

WORKFLOW_SIDE = [
    "hcxai.agreement",
    "hcxai.analyzers",
    "hcxai.aopc",
    "hcxai.augment",
    "hcxai.canonize",
    "hcxai.data",
    "hcxai.ellipse",
    "hcxai.error_explanation",
    "hcxai.faithfulness",
    "hcxai.figures",
    "hcxai.imputation",
    "hcxai.io",
    "hcxai.localization",
    "hcxai.meta",
    "hcxai.models",
    "hcxai.perturbation",
    "hcxai.phantom",
    "hcxai.provenance",
    "hcxai.report",
    "hcxai.saliency_file",
    "hcxai.sanity_file",
    "hcxai.sanity_metrics",
    "hcxai.scorecard",
    "hcxai.seeding",
    "hcxai.weights",
    "hcxai.splits",
    "hcxai.stats",
]


def test_workflow_side_modules_import_without_tensorflow():
    code = (
        f"import sys, {', '.join(WORKFLOW_SIDE)}; "
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_module_is_listed_here_or_needs_tensorflow():
    # The stages that run in the TensorFlow env (they import TensorFlow inside functions).
    tensorflow_side = {"hcxai.explain", "hcxai.saliency", "hcxai.sanity", "hcxai.train"}
    source = Path(__file__).resolve().parents[1] / "src" / "hcxai"
    modules = {f"hcxai.{p.stem}" for p in source.glob("*.py") if p.stem != "__init__"}
    assert modules - tensorflow_side <= set(WORKFLOW_SIDE), modules - set(WORKFLOW_SIDE)
