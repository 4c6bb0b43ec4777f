"""K-fold splits: a partition of test sets, a validation fold, a seeded order."""

import pytest

from hcxai.io import InputError
from hcxai.splits import fold_ids, make_splits

IDS = [f"{i:03d}_HC" for i in range(999)]


def test_every_image_is_tested_exactly_once():
    splits = make_splits(IDS, folds=5, seed=1)
    tests = splits[splits["role"] == "test"]
    assert sorted(tests["image_id"]) == sorted(IDS)
    assert tests["image_id"].is_unique


def test_hc18_sizes_match_the_paper():
    splits = make_splits(IDS, folds=5, seed=1)
    for fold in range(5):
        counts = splits[splits["fold"] == fold]["role"].value_counts()
        assert counts["test"] in (199, 200) and counts["val"] in (199, 200)
        assert counts["train"] in (599, 600)
        roles = [set(fold_ids(splits, fold, r)) for r in ("train", "val", "test")]
        assert not (roles[0] & roles[1]) and not (roles[0] & roles[2]) and not (roles[1] & roles[2])
        assert len(set().union(*roles)) == 999


def test_seeded():
    assert make_splits(IDS, 5, 1).equals(make_splits(IDS, 5, 1))
    assert not make_splits(IDS, 5, 1).equals(make_splits(IDS, 5, 2))


def test_too_few_folds_or_images():
    with pytest.raises(InputError, match="folds must be >= 3"):
        make_splits(IDS, 2, 1)
    with pytest.raises(InputError, match="cannot fill"):
        make_splits(IDS[:4], 5, 1)
