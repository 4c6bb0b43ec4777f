"""A tiny HC18-layout data set, ingested and split, for the TensorFlow tests."""

import pytest

from hcxai.data import phantom
from hcxai.data.hc18 import ingest
from hcxai.data.splits import write_splits


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    phantom.generate(root / "phantom", n_images=12, seed=3)
    ingest(root / "phantom", root / "dataset_32.h5", image_size=32, source="phantom")
    write_splits(str(root / "dataset_32.h5"), str(root / "splits.csv"), folds=3, seed=3)
    return str(root / "dataset_32.h5"), str(root / "splits.csv")
