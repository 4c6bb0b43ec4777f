"""Independent random streams: every use of randomness draws from its own.

A stream is named by (seed, purpose, *keys): the purpose says what the draws are
for (the constants below), the keys which one (an image, a fold and epoch, a
repeat). What an image gets depends only on (seed, image id, purpose, keys), so
chunking, sharding or the order of images can never change a number, and two
purposes never meet the same draws even when their configured seeds are equal.

Why streams cannot collide: `np.random.SeedSequence(seed, spawn_key=(crc32(purpose),
*keys))` assembles its entropy as the seed's 32-bit words zero-filled to the
4-word pool, then one word per spawn-key element. With 0 <= seed < 2**128 and every
key < 2**32 (checked here) that array is a one-to-one encoding of (seed, purpose,
keys): the zero fill only ever pads the seed, and a trailing key 0 is a word of
its own that SeedSequence mixes in, unlike `default_rng([seed, id])`, which pads
short entropy with zeros and so equals `default_rng([seed, id, 0])`. Distinct
arrays give the same stream only by a collision of the 128-bit hash.
"""

from __future__ import annotations

import zlib

import numpy as np

# The purposes, one per use of randomness.
PERTURBATION_NOISE = "perturbation_noise"  # an imputation's draws (evaluate.faithfulness)
RANDOM_ORDER = "random_order"  # the random-order baseline's ranking, per repeat
RANDOM_MAP = "random_map"  # the `random` analyzer's map (hcxai.explain.innvestigate_backend)
SMOOTHGRAD_NOISE = "smoothgrad_noise"  # SmoothGrad's noisy copies (explain)
PHANTOM = "phantom"  # a synthetic scan, per index (hcxai.data.phantom)
SPLIT = "split"  # the order in which groups are dealt to folds (hcxai.data.splits)
TRAINING = "training"  # augmentation and batch order, per fold and epoch (hcxai.models.training)
BOOTSTRAP = "bootstrap"  # the resamples of every bootstrap CI (stats, faithfulness, ...)
SPRAY_SUBSAMPLE = "spray_subsample"  # SpRAy's stability subsamples, per repeat (evaluate.meta)
PERMUTED_LABELS = "permuted_labels"  # data randomisation's targets (models.training)
ROBUSTNESS_NOISE = "robustness_noise"  # max-sensitivity input noise, per image and sample
PURPOSES = (
    PERTURBATION_NOISE,
    RANDOM_ORDER,
    RANDOM_MAP,
    SMOOTHGRAD_NOISE,
    PHANTOM,
    SPLIT,
    TRAINING,
    BOOTSTRAP,
    SPRAY_SUBSAMPLE,
    PERMUTED_LABELS,
    ROBUSTNESS_NOISE,
)

WORD = 2**32  # a key must fit one 32-bit word of the spawn key
POOL = 2**128  # a seed must fit SeedSequence's 4-word pool


def word(text: str) -> int:
    """The 32-bit word that stands for `text` (an image id, a purpose) in a stream's key."""
    return zlib.crc32(text.encode())


def stream(seed: int, purpose: str, *keys: int) -> np.random.Generator:
    """A generator for stream (seed, purpose, *keys), independent of every other stream."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown random-stream purpose {purpose!r}; use one of {PURPOSES}")
    if not 0 <= seed < POOL:
        raise ValueError(f"seed {seed} must be in [0, 2**128)")
    if not all(0 <= k < WORD for k in keys):
        raise ValueError(f"stream keys {keys} must be in [0, 2**32)")
    spawn_key = (word(purpose), *map(int, keys))
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=spawn_key))


def image_rng(seed: int, image_id: str, purpose: str, *keys: int) -> np.random.Generator:
    """The stream of one image for `purpose`: (seed, purpose, CRC-32 of the id, *keys)."""
    return stream(seed, purpose, word(image_id), *keys)
