"""The package's layers: no import runs back up, and the workflow env never loads TensorFlow.

Layers, lowest first (src/hcxai/__init__.py): core < stats < data < models < explain <
evaluate < figures. A module may import its own layer and the ones below it, never one
above (evaluation never imports figures; data never imports models).
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "hcxai"
LAYERS = ["core", "stats", "data", "models", "explain", "evaluate", "figures"]
# The stages that run in the TensorFlow env (they import TensorFlow inside functions).
TENSORFLOW_SIDE = {
    "hcxai.explain.innvestigate_backend",
    "hcxai.explain.saliency",
    "hcxai.evaluate.randomisation.model_maps",
    "hcxai.evaluate.robustness.perturbed_maps",
    "hcxai.models.training",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(SOURCE.rglob("*.py"))}


def layer(module: str) -> int | None:
    """The layer of `hcxai.<layer>...`; None for the package itself."""
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 else None


def hcxai_imports(path: Path) -> set[str]:
    """Every hcxai module `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hcxai"):
            found |= {
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                for a in node.names
            }
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("hcxai")}
    return found


def test_every_module_is_in_a_layer():
    assert all(m == "hcxai" or m.split(".")[1] in LAYERS for m in MODULES), sorted(MODULES)


@pytest.mark.parametrize("module", [m for m in MODULES if m != "hcxai"])
def test_no_import_runs_back_up(module):
    upward = {
        imported
        for imported in hcxai_imports(MODULES[module])
        if imported != "hcxai" and layer(imported) > layer(module)
    }
    assert not upward, f"{module} imports a higher layer: {sorted(upward)}"


def test_the_layer_check_sees_an_upward_import(tmp_path):
    # The oracle of the check above: a module that imports a higher layer is caught.
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from hcxai.figures.plots import save\n")
    assert {layer(m) for m in hcxai_imports(bad)} == {LAYERS.index("figures")}


def test_workflow_side_modules_import_without_tensorflow():
    workflow_side = sorted(set(MODULES) - TENSORFLOW_SIDE)
    code = (
        f"import sys, {', '.join(workflow_side)}; "
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tensorflow_side_list_names_real_modules():
    assert set(TENSORFLOW_SIDE) - {"hcxai.evaluate.robustness.perturbed_maps"} <= set(MODULES)
