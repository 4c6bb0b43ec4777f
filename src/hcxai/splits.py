"""K-fold cross-validation splits with a validation fold.

Fold k tests on partition k and validates on partition k+1 (mod K); the rest
trains. With HC18's 999 scans and K = 5 that is 200 test / 200 validation /
599 training scans, the paper's 199 / 200 / 600 up to rounding, and every scan
is a test scan in exactly one fold.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import h5py
import numpy as np
import pandas as pd

from hcxai.io import InputError, atomic_output

log = logging.getLogger(__name__)

ROLES = ("train", "val", "test")


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


def write_splits(dataset_path: str, out_path: str, folds: int, seed: int) -> None:
    """Write `results/splits.csv` for the images of a dataset cache."""
    with h5py.File(dataset_path, "r") as h5:
        image_ids = [s.decode() for s in h5["image_id"][:]]
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
