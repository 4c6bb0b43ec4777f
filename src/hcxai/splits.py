"""K-fold cross-validation splits with a validation fold.

Fold k tests on partition k and validates on partition k+1 (mod K); the rest
trains. With HC18's 999 scans and K = 5 that is 200 test / 200 validation /
599 training scans, the paper's 199 / 200 / 600 up to rounding, and every scan
is a test scan in exactly one fold.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from hcxai.data import load_dataset
from hcxai.io import InputError, atomic_output, damaged_file, read_table

log = logging.getLogger(__name__)

ROLES = ("train", "val", "test")
COLUMNS = {"image_id": "id", "fold": "int", "role": ROLES}


def make_splits(image_ids: Sequence[str], folds: int, seed: int) -> pd.DataFrame:
    """Rows `image_id, fold, role` for every image in every fold."""
    if folds < 3:
        raise InputError(
            f"folds must be >= 3 (test, validation and training partitions), got {folds}"
        )
    if len(image_ids) < folds:
        raise InputError(f"{len(image_ids)} images cannot fill {folds} folds; lower 'folds'")
    order = np.random.default_rng(seed).permutation(len(image_ids))
    partition = np.empty(len(image_ids), dtype=np.int64)
    partition[order] = np.arange(len(image_ids)) % folds
    frames = []
    for fold in range(folds):
        role = np.full(len(image_ids), "train", dtype=object)
        role[partition == fold] = "test"
        role[partition == (fold + 1) % folds] = "val"
        frames.append(pd.DataFrame({"image_id": list(image_ids), "fold": fold, "role": role}))
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
    tested = splits.loc[splits["role"] == "test", "image_id"].value_counts()
    untested = sorted(images - set(tested.index))
    if untested or (tested != 1).any():
        odd = untested or sorted(tested.index[tested != 1])
        return f"does not test image(s) {odd[:3]} in exactly one fold"
    return None


def write_splits(dataset_path: str, out_path: str, folds: int, seed: int) -> None:
    """Write `results/splits.csv` for the images of a dataset cache."""
    image_ids = load_dataset(dataset_path).image_id.tolist()
    splits = make_splits(image_ids, folds, seed)
    with atomic_output(out_path) as tmp:
        splits.to_csv(tmp, index=False)
    counts = splits[splits["fold"] == 0]["role"].value_counts()
    log.info(
        "%d folds over %d images; fold 0: %d train / %d val / %d test",
        folds,
        len(image_ids),
        counts.get("train", 0),
        counts.get("val", 0),
        counts.get("test", 0),
    )


def fold_sizes(n_images: int, folds: int) -> list[int]:
    """Test images per fold, as `make_splits` partitions them (known before the split runs)."""
    return [n_images // folds + (1 if fold < n_images % folds else 0) for fold in range(folds)]
