"""K-fold cross-validation splits with a validation fold, grouped by fetus.

Fold k tests on partition k and validates on partition k+1 (mod K); the rest
trains. With HC18's 999 scans and K = 5 that is about 200 test / 200 validation /
599 training scans, the paper's 199 / 200 / 600 up to rounding, and every scan
is a test scan in exactly one fold.

HC18 names repeat scans of one fetus `NNN_HC`, `NNN_2HC`, `NNN_3HC`, ... (999
scans, 806 numbers): the partitions are made of groups, so a test scan's
sibling never sits in its training or validation set. With one scan per group
(the phantoms) the partition is the per-image one of earlier versions.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from hcxai.core.io import InputError, atomic_output, damaged_file, read_table
from hcxai.core.seeding import SPLIT, stream
from hcxai.data.hc18 import load_dataset

log = logging.getLogger(__name__)

ROLES = ("train", "val", "test")
COLUMNS = {"image_id": "id", "group": "id", "fold": "int", "role": ROLES}
GROUPINGS = ("fetus", "scan")
# HC18's scan names: NNN_HC, NNN_2HC, NNN_3HC, ... for scans of fetus NNN.
HC18_NAME = re.compile(r"^(\d+)_\d*HC$")


def scan_group(image_id: str, group_by: str = "fetus") -> str:
    """The group a scan is kept with: its fetus' number (`010` for `010_2HC`), or itself.

    A name outside HC18's pattern is its own group.
    """
    if group_by not in GROUPINGS:
        raise InputError(f"dataset.group_by must be one of {list(GROUPINGS)}, got {group_by!r}")
    match = HC18_NAME.match(image_id) if group_by == "fetus" else None
    return match.group(1) if match else image_id


def partition(groups: Sequence[str], folds: int, seed: int) -> np.ndarray:
    """The partition (0..K-1) of each image; images of one group share it.

    The groups, in a seeded random order, each go to the partition with the
    fewest images so far (ties: the lowest), which balances the partitions to
    within one group and, with one image per group, deals the shuffled images
    round robin as earlier versions did.
    """
    if folds < 3:
        raise InputError(
            f"folds must be >= 3 (test, validation and training partitions), got {folds}"
        )
    names, group_of = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    if len(names) < folds:
        raise InputError(
            f"{len(groups)} images in {len(names)} group(s) cannot fill {folds} folds; "
            "lower 'folds'"
        )
    # Groups in order of first appearance, so the partition does not depend on their names.
    _, first = np.unique(group_of, return_index=True)
    appearance = np.argsort(first, kind="stable")
    members = np.bincount(group_of)
    group_partition = np.empty(len(names), dtype=np.int64)
    filled = np.zeros(folds, dtype=np.int64)
    for group in appearance[stream(seed, SPLIT).permutation(len(names))]:
        target = int(np.argmin(filled))
        group_partition[group] = target
        filled[target] += members[group]
    return group_partition[group_of]


def make_splits(
    image_ids: Sequence[str], folds: int, seed: int, group_by: str = "fetus"
) -> pd.DataFrame:
    """Rows `image_id, group, fold, role` for every image in every fold."""
    groups = [scan_group(str(image_id), group_by) for image_id in image_ids]
    partitions = partition(groups, folds, seed)
    frames = []
    for fold in range(folds):
        role = np.full(len(image_ids), "train", dtype=object)
        role[partitions == fold] = "test"
        role[partitions == (fold + 1) % folds] = "val"
        frames.append(
            pd.DataFrame({"image_id": list(image_ids), "group": groups, "fold": fold, "role": role})
        )
    return pd.concat(frames, ignore_index=True)


def fold_ids(splits: pd.DataFrame, fold: int, role: str) -> list[str]:
    """Image ids of one role in one fold, in the data set's order."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    selected = splits[(splits["fold"] == fold) & (splits["role"] == role)]
    if selected.empty:
        raise InputError(f"splits have no {role} images for fold {fold}; rerun the split step")
    return selected["image_id"].astype(str).tolist()


def read_splits(path: str | Path, dataset_ids: Collection[str] | None = None) -> pd.DataFrame:
    """`results/splits.csv`, checked as `make_splits` writes it: folds 0..K-1, each listing
    every image once in one of ROLES, every role in every fold, each image tested in one
    fold; with `dataset_ids`, exactly the data set's images. Else one InputError."""
    splits = read_table(path, COLUMNS, rule="split", unique=("fold", "image_id"))
    problem = _splits_problem(splits)
    images = set(splits["image_id"])
    known = None if dataset_ids is None else {str(image_id) for image_id in dataset_ids}
    if problem is None and known is not None and images != known:
        other = sorted(images ^ known)[:3]
        problem = f"lists other images than the data set (e.g. {other}): another data set's split"
    if problem:
        raise damaged_file(path, problem, "split")
    return splits


def _splits_problem(splits: pd.DataFrame) -> str | None:
    """What makes a parsed splits table impossible for `make_splits`, if anything."""
    images = set(splits["image_id"])
    folds = sorted(int(fold) for fold in set(splits["fold"]))
    if folds != list(range(len(folds))) or len(folds) < 3:
        return f"has folds {folds}, expected 0, 1, ..., K - 1 with K >= 3"
    for fold, rows in splits.groupby("fold"):
        if len(rows) != len(images):
            return f"lists {len(rows)} of its {len(images)} images in fold {fold}"
        if set(rows["role"]) != set(ROLES):
            return f"has fold {fold} without every role of {list(ROLES)}"
    roles_of_group = splits.groupby(["fold", "group"])["role"].nunique()
    if (roles_of_group > 1).any():
        fold, group = roles_of_group.index[np.argmax(roles_of_group.to_numpy() > 1)]
        return f"splits group {group!r} across roles in fold {fold}: a sibling scan would leak"
    tested = splits.loc[splits["role"] == "test", "image_id"].value_counts()
    untested = sorted(images - set(tested.index))
    if untested or (tested != 1).any():
        odd = untested or sorted(tested.index[tested != 1])
        return f"does not test image(s) {odd[:3]} in exactly one fold"
    return None


def write_splits(
    dataset_path: str, out_path: str, folds: int, seed: int, group_by: str = "fetus"
) -> None:
    """Write `results/splits.csv` for the images of a dataset cache."""
    image_ids = load_dataset(dataset_path).image_id.tolist()
    splits = make_splits(image_ids, folds, seed, group_by)
    with atomic_output(out_path) as tmp:
        splits.to_csv(tmp, index=False)
    tests = splits[splits["role"] == "test"]
    log.info(
        "%d folds over %d images in %d groups (by %s); test images per fold %s, "
        "test groups per fold %s",
        folds,
        len(image_ids),
        splits["group"].nunique(),
        group_by,
        tests.groupby("fold").size().tolist(),
        tests.groupby("fold")["group"].nunique().tolist(),
    )


def fold_sizes(image_ids: Sequence[str], folds: int, seed: int, group_by: str) -> list[int]:
    """Test images per fold, as `make_splits` partitions them (known before the split runs)."""
    groups = [scan_group(str(image_id), group_by) for image_id in image_ids]
    return np.bincount(partition(groups, folds, seed), minlength=folds).tolist()


def first_test_ids(
    splits_path: str | Path,
    fold: int,
    n_images: int,
    dataset_ids: Collection[str] | None = None,
    *,
    block: str,
) -> list[str]:
    """The first `n_images` test images of `fold` (the stages that explain a few images of
    one fold: config block `block`, e.g. sanity); fewer, with a warning, if it has fewer."""
    splits = read_splits(splits_path, dataset_ids)
    folds = sorted(set(splits["fold"]))
    if fold not in folds:
        raise InputError(
            f"{block}.fold is {fold} but {splits_path} has folds {folds}; set {block}.fold to "
            "one of them"
        )
    ids = fold_ids(splits, fold, "test")
    if n_images > len(ids):
        log.warning(
            "%s.n_images is %d but fold %d has %d test images (%s): using all %d",
            block,
            n_images,
            fold,
            len(ids),
            splits_path,
            len(ids),
        )
    return ids[:n_images]
