"""K-fold splits: a partition of test sets, a validation fold, a seeded order."""

import numpy as np
import pytest

from hcxai.core.io import InputError
from hcxai.core.seeding import SPLIT, stream
from hcxai.data.splits import fold_ids, fold_sizes, make_splits, read_splits, scan_group

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


# --- grouped by fetus: HC18's NNN_HC, NNN_2HC, ... stay together ---


def siblings_leak(splits) -> list[tuple[int, str]]:
    """(fold, fetus) pairs whose scans sit in more than one role: the oracle for a leak.

    The fetus is read off the name ('010' of '010_2HC'), not from the file's group column.
    """
    fetus = splits["image_id"].str.split("_").str[0]
    roles = splits.assign(fetus=fetus).groupby(["fold", "fetus"])["role"].nunique()
    return [key for key, count in roles.items() if count > 1]


def hc18_like_ids(rng: np.random.Generator, n_fetuses: int) -> list[str]:
    """HC18-style names: one to four scans per fetus (HC18 has 999 scans of 806 fetuses)."""
    ids = []
    for number in range(n_fetuses):
        scans = rng.choice([1, 1, 1, 2, 2, 3, 4])
        ids += [f"{number:03d}_HC"] + [f"{number:03d}_{k}HC" for k in range(2, scans + 1)]
    return ids


@pytest.mark.parametrize(
    ("image_id", "group"),
    [("010_HC", "010"), ("010_2HC", "010"), ("010_13HC", "010"), ("scan_a", "scan_a"),
     ("010_HC_x", "010_HC_x")],
)  # fmt: skip
def test_a_scan_belongs_to_its_fetus(image_id, group):
    assert scan_group(image_id) == group
    assert scan_group(image_id, "scan") == image_id


@pytest.mark.parametrize("seed", range(20))
def test_grouped_folds_never_split_a_fetus_over_random_groupings(seed):
    rng = np.random.default_rng(seed)
    ids = hc18_like_ids(rng, int(rng.integers(5, 80)))
    ids = list(rng.permutation(ids))  # the data set's order is not the groups' order
    folds = int(rng.integers(3, 6))
    splits = make_splits(ids, folds, seed)
    assert siblings_leak(splits) == []
    tests = splits[splits["role"] == "test"]
    assert sorted(tests["image_id"]) == sorted(ids)
    sizes = tests.groupby("fold").size()
    assert sizes.max() - sizes.min() <= 4  # balanced within the largest group
    assert fold_sizes(ids, folds, seed, "fetus") == sizes.tolist()


def test_the_per_image_split_of_earlier_versions_leaks_siblings():
    ids = hc18_like_ids(np.random.default_rng(0), 300)
    assert siblings_leak(make_splits(ids, 3, 2020)) == []
    assert len(siblings_leak(make_splits(ids, 3, 2020, group_by="scan"))) > 20


def round_robin_partition(n: int, folds: int, seed: int) -> np.ndarray:
    """The per-image partition of hcxai <= 0.x, written out: shuffled (by the split's
    stream, `hcxai.core.seeding.SPLIT`, since issue #23), dealt round robin."""
    order = stream(seed, SPLIT).permutation(n)
    result = np.empty(n, dtype=np.int64)
    result[order] = np.arange(n) % folds
    return result


@pytest.mark.parametrize(("n", "folds", "seed"), [(600, 3, 2020), (15, 3, 7), (999, 5, 1)])
def test_one_scan_per_group_deals_the_shuffled_scans_round_robin(n, folds, seed):
    ids = [f"{i:03d}_HC" for i in range(n)]  # the phantoms' names
    splits = make_splits(ids, folds, seed)
    tests = splits[splits["role"] == "test"].set_index("image_id").loc[ids]
    np.testing.assert_array_equal(tests["fold"], round_robin_partition(n, folds, seed))


def test_a_splits_file_that_splits_a_fetus_is_refused(tmp_path):
    ids = ["001_HC", "001_2HC", "002_HC", "003_HC", "004_HC", "005_HC"]
    splits = make_splits(ids, 3, 1)
    first = splits["image_id"] == "001_2HC"
    splits.loc[first & (splits["fold"] == 0), "role"] = "unknown"
    rows = splits.loc[~first | (splits["fold"] != 0)]
    sibling_role = rows.loc[(rows["image_id"] == "001_HC") & (rows["fold"] == 0), "role"].item()
    other = next(r for r in ("train", "val", "test") if r != sibling_role)
    splits.loc[first & (splits["fold"] == 0), "role"] = other
    path = tmp_path / "splits.csv"
    splits.to_csv(path, index=False)
    with pytest.raises(InputError, match="splits group '001' across roles"):
        read_splits(path)


def test_too_few_groups_for_the_folds():
    with pytest.raises(InputError, match="2 group"):
        make_splits(["001_HC", "001_2HC", "001_3HC", "002_HC"], 3, 1)
