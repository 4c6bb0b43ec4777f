"""Per-image random streams: what an image gets depends only on (seed, image id, stream).

Saliency noise, perturbation noise and random orders draw from these, so
chunking, sharding or the order of images can never change a number.
"""

from __future__ import annotations

import zlib

import numpy as np


def image_rng(seed: int, image_id: str, *stream: int) -> np.random.Generator:
    """A generator seeded by (seed, CRC-32 of the image id, *stream)."""
    return np.random.default_rng([seed, zlib.crc32(image_id.encode()), *stream])
