"""Independent random streams (issue #23): no use of randomness meets another's draws.

The oracles are statistics (chance correlation), NumPy's own documented padding
behaviour, and a fresh interpreter; none is a value the code produced.
"""

import copy
import io
import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

import hcxai
from hcxai.core.seeding import PURPOSES, SPLIT, image_rng, stream, word
from hcxai.evaluate.faithfulness import perturbation
from hcxai.evaluate.faithfulness.perturbation import (
    Settings,
    perturbation_curves,
    perturbed_variants,
    region_scores,
)
from hcxai.explain.analyzers import resolve
from hcxai.explain.innvestigate_backend import random_maps

REPO = Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
PHANTOM_IDS = [f"{i:03d}_HC" for i in range(CONFIG["dataset"]["n_images"])]  # 600
FIRST = 8  # draws compared


def default_random_map_regions(settings: Settings, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(random-map region scores, perturbation-noise region sums), (ids, regions) each,
    for the default config's analyzer seed, image size and grid."""
    spec = resolve("random", CONFIG.get("analyzer_params", {}).get("random"))
    maps = random_maps(spec.params["seed"], PHANTOM_IDS, (size, size, 3)).sum(axis=-1)
    x = np.zeros((size, size, 3), np.float32)  # noise added to (or replacing) zeros
    everywhere = np.ones((1, size, size), bool)
    noise = np.stack(
        [perturbed_variants(x, i, everywhere, settings)[0, ..., 0] for i in PHANTOM_IDS]
    )
    return region_scores(maps, settings.subwindow), region_scores(noise, settings.subwindow)


def test_the_random_maps_regions_are_uncorrelated_with_the_noise_added_there():
    """The random analyzer's ranking must not know where the noise is large: with the
    default seeds (both 2020) its first MoRF region's score correlated with the noise
    summed over that region (r = 0.12; the first grid row's regions r = 0.17-0.25)."""
    settings = Settings.from_config(CONFIG["perturbation"])
    assert settings.kind in ("gaussian", "uniform")  # the noise this test looks for
    scores, noise = default_random_map_regions(settings, CONFIG["image_size"])
    first = np.argmax(scores, axis=1)  # what MoRF perturbs first
    rows = np.arange(len(PHANTOM_IDS))
    r_first = stats.pearsonr(scores[rows, first], noise[rows, first]).statistic
    assert abs(r_first) < 0.08  # chance: sd 1/sqrt(600) = 0.04
    by_region = [
        stats.pearsonr(scores[:, k], noise[:, k]).statistic for k in range(scores.shape[1])
    ]
    assert max(map(abs, by_region)) < 0.15  # 3.7 sd: any of 16 regions by chance p < 0.005


def test_the_random_orders_first_repeat_does_not_reuse_the_noise_stream(monkeypatch):
    """The generators perturbation_curves hands the imputation and the random order's
    repeat 0 start differently (they were one stream: repeat 0 was padded to the noise)."""
    settings = Settings.from_config(
        {**CONFIG["perturbation"], "subwindow": 2, "steps": 2, "orders": ["random"]}
    )
    ranking, imputation = perturbation.ranking, settings.imputation()
    starts: dict[str, list[np.ndarray]] = {"noise": [], "order": []}

    def spy_ranking(scores: np.ndarray, order: str, rng: np.random.Generator) -> np.ndarray:
        starts["order"].append(copy.deepcopy(rng).random(FIRST))
        return ranking(scores, order, rng)

    def spy_imputation(x: np.ndarray, removed: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        starts["noise"].append(copy.deepcopy(rng).random(FIRST))
        return imputation(x, removed, rng)

    monkeypatch.setattr(perturbation, "ranking", spy_ranking)
    x, maps = np.zeros((2, 4, 4, 3), np.float32), np.zeros((2, 4, 4))
    ids, true = ["a", "b"], np.zeros(2)
    perturbation_curves(lambda v: np.zeros(len(v)), x, true, maps, ids, settings, spy_imputation)
    repeats = settings.random_repeats
    assert len(starts["noise"]) == 2 and len(starts["order"]) == 2 * repeats
    for image in range(2):
        noise = starts["noise"][image]
        for order in starts["order"][image * repeats : (image + 1) * repeats]:
            assert not np.allclose(order, noise)


def test_no_two_purposes_share_draws_and_zero_padding_cannot_collide():
    seed, image_id = 2020, "000_HC"
    # NumPy's pitfall the streams avoid: short entropy is padded with zeros.
    padded = [np.random.default_rng([seed, word(image_id), *z]).random(FIRST) for z in ([], [0])]
    np.testing.assert_array_equal(*padded)

    assert len({word(p) for p in PURPOSES}) == len(PURPOSES)
    draws = {
        (p, keys): image_rng(seed, image_id, p, *keys).random(FIRST)
        for p in PURPOSES
        for keys in [(), (0,), (0, 0), (1,)]
    }
    draws |= {(p, "no image"): stream(seed, p).random(FIRST) for p in PURPOSES}
    draws |= {(p, "image as key 0"): stream(seed, p, 0).random(FIRST) for p in PURPOSES}
    for (a, x), (b, y) in itertools.combinations(draws.items(), 2):
        assert not np.allclose(x, y), (a, b)


@pytest.mark.parametrize(
    ("seed", "keys", "purpose"),
    [
        (-1, (), SPLIT),
        (2**128, (), SPLIT),
        (1, (2**32,), SPLIT),
        (1, (-1,), SPLIT),
        (1, (), "splits"),
    ],
)
def test_out_of_range_seeds_and_keys_and_unknown_purposes_are_refused(seed, keys, purpose):
    """What keeps the stream's entropy a one-to-one encoding of (seed, purpose, keys)."""
    with pytest.raises(ValueError):
        stream(seed, purpose, *keys)


DRAWS = [(2020, "007_HC", p, keys) for p in PURPOSES for keys in [(), (3,)]]


def first_draws(cases: list) -> np.ndarray:
    return np.array([image_rng(s, i, p, *k).random(FIRST) for s, i, p, k in cases])


def test_draws_depend_only_on_seed_id_purpose_and_keys():
    """The same in a fresh interpreter, after other draws, and in any order of images."""
    here = first_draws(DRAWS)
    script = (
        "import io, sys, numpy as np\n"
        "from hcxai.core.seeding import image_rng\n"
        f"out = np.array([image_rng(s, i, p, *k).random({FIRST}) for s, i, p, k in {DRAWS!r}])\n"
        "buffer = io.BytesIO(); np.save(buffer, out); sys.stdout.buffer.write(buffer.getvalue())\n"
    )
    src = str(Path(hcxai.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    fresh = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, check=True)
    np.testing.assert_array_equal(np.load(io.BytesIO(fresh.stdout)), here)

    np.random.default_rng(0).random(1000)
    np.random.seed(1)
    np.random.random(1000)
    image_rng(2020, "007_HC", PURPOSES[0]).random(1000)
    np.testing.assert_array_equal(first_draws(DRAWS[::-1])[::-1], here)
