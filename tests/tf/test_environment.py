"""The TensorFlow environment has what the design pins, and hcxai keeps TF out of its import."""

import subprocess
import sys


def test_importing_hcxai_does_not_import_tensorflow():
    code = (
        "import sys, hcxai, hcxai.data, hcxai.splits, hcxai.phantom, hcxai.ellipse, "
        "hcxai.analyzers, hcxai.aopc, hcxai.agreement, hcxai.perturbation, hcxai.report, "
        "hcxai.figures, hcxai.saliency_file, hcxai.provenance, hcxai.canonize, hcxai.models, "
        "hcxai.sanity, hcxai.sanity_file, hcxai.scorecard; "
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

    from hcxai.analyzers import LRP_VARIANTS

    assert set(LRP_VARIANTS) <= set(innvestigate.analyzer.analyzers)
