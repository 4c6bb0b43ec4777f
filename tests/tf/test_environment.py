"""The TensorFlow environment has what the design pins, and hcxai keeps TF out of its import."""

import subprocess
import sys


def test_importing_hcxai_does_not_import_tensorflow():
    code = (
        "import sys, hcxai; "
        "import hcxai.data.hc18; "
        "import hcxai.data.splits; "
        "import hcxai.data.phantom; "
        "import hcxai.data.ellipse; "
        "import hcxai.explain.analyzers; "
        "import hcxai.evaluate.faithfulness.aopc; "
        "import hcxai.models.accuracy; "
        "import hcxai.evaluate.faithfulness.perturbation; "
        "import hcxai.figures.inputs; "
        "import hcxai.figures.plots; "
        "import hcxai.explain.saliency_file; "
        "import hcxai.core.provenance; "
        "import hcxai.explain.canonize; "
        "import hcxai.models.regression; "
        "import hcxai.evaluate.randomisation.model_maps; "
        "import hcxai.evaluate.randomisation.maps_file; "
        "import hcxai.evaluate.scorecard; "
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_pinned_versions():
    from importlib.metadata import version

    import numpy
    import tensorflow as tf

    assert tf.__version__.startswith("2.14.")
    # innvestigate.__version__ still says 2.0.1 in the 2.1.2 release; trust the metadata.
    assert version("innvestigate") == "2.1.2"
    assert numpy.__version__.startswith("1.26.")


def test_lrp_variants_the_config_accepts_exist_in_innvestigate():
    import innvestigate

    from hcxai.explain.analyzers import LRP_VARIANTS

    assert set(LRP_VARIANTS) <= set(innvestigate.analyzer.analyzers)
