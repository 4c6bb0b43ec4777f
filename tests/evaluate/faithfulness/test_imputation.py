"""Imputations against independent oracles, and faithfulness oracles on NumPy models.

ROAD is checked against its defining equations, written out pixel by pixel here, and a
dense solve. The models are a linear regression f(x) = b + w.x and a ReLU model
f(x) = b + sum_j relu(v_j.x), built so that removing pixels never switches a unit: on
both, Input x Gradient is each pixel's exact contribution, so under a removal
imputation it must give the best MoRF ordering there is.
"""

import itertools

import numpy as np
import pytest
import yaml
from conftest import REPO

import hcxai.evaluate.faithfulness.imputation
from hcxai.core.io import InputError
from hcxai.core.seeding import PERTURBATION_NOISE, RANDOM_ORDER, image_rng
from hcxai.evaluate.faithfulness.aopc import aopc_of_curve
from hcxai.evaluate.faithfulness.imputation import (
    IMPUTATIONS,
    KINDS,
    MODES,
    NoisyLinear,
    Parameters,
    imputation_name,
    linear_fills,
    make,
)
from hcxai.evaluate.faithfulness.perturbation import (
    MEASURES,
    Settings,
    perturbation_curves,
    perturbed_areas,
    perturbed_variants,
    ranking,
    region_masks,
    region_scores,
)

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())

# Neighbour weights written out: ROAD's (road_evaluation's NoisyLinearImputer) and the
# plain mean of the 4 direct neighbours. Only their ratios matter.
DIRECT = ((-1, 0), (1, 0), (0, -1), (0, 1))
DIAGONAL = ((-1, -1), (-1, 1), (1, -1), (1, 1))
WEIGHTS = {
    8: {**dict.fromkeys(DIRECT, 1 / 6), **dict.fromkeys(DIAGONAL, 1 / 12)},
    4: dict.fromkeys(DIRECT, 1.0),
}


def settings(**overrides):
    base = dict(
        subwindow=5,
        steps=4,
        rank_by="sum",
        kind="zeros",
        mode="replace",
        std=0.3,
        orders=("morf",),
        random_repeats=1,
        seed=2020,
        imputations=("zeros",),
    )
    return Settings(**{**base, **overrides})


def neighbour_mean(u: np.ndarray, r: int, c: int, neighbours: int) -> float:
    """The weighted mean of pixel (r, c)'s neighbours inside the image."""
    total = weight_sum = 0.0
    for (dr, dc), weight in WEIGHTS[neighbours].items():
        if 0 <= r + dr < u.shape[0] and 0 <= c + dc < u.shape[1]:
            total += weight * u[r + dr, c + dc]
            weight_sum += weight
    return total / weight_sum


def dense_solution(gray: np.ndarray, removed: np.ndarray, neighbours: int) -> np.ndarray:
    """The removed pixels' equations as a dense system, built pixel by pixel, solved."""
    unknown = {p: i for i, p in enumerate(zip(*np.nonzero(removed), strict=True))}
    a, b = np.zeros((len(unknown), len(unknown))), np.zeros(len(unknown))
    for (r, c), i in unknown.items():
        for (dr, dc), weight in WEIGHTS[neighbours].items():
            q = (r + dr, c + dc)
            if 0 <= q[0] < gray.shape[0] and 0 <= q[1] < gray.shape[1]:
                a[i, i] += weight
                if q in unknown:
                    a[i, unknown[q]] -= weight
                else:
                    b[i] += weight * gray[q]
    out = gray.astype(np.float64)
    out[removed] = np.linalg.solve(a, b)
    return out


def mask(size: int, *boxes: tuple[int, int, int, int]) -> np.ndarray:
    """Removed pixels: the union of boxes (row0, row1, col0, col1), ends exclusive."""
    out = np.zeros((size, size), bool)
    for r0, r1, c0, c1 in boxes:
        out[r0:r1, c0:c1] = True
    return out


MASKS = {
    "interior block": mask(9, (3, 6, 3, 7)),
    "corner region": mask(9, (0, 3, 0, 3)),
    "border column, a lone pixel, a diagonal pair": mask(
        9, (0, 9, 8, 9), (4, 5, 4, 5), (2, 3, 2, 3), (3, 4, 3, 4)
    ),
    "all but one pixel": ~mask(9, (4, 5, 6, 7)),
}


@pytest.mark.parametrize("neighbours", [8, 4])
@pytest.mark.parametrize("name", list(MASKS))
def test_road_imputes_the_neighbour_mean_equations(name, neighbours):
    removed = MASKS[name]
    gray = np.random.default_rng(1).normal(size=removed.shape)
    filled = linear_fills(gray, removed[np.newaxis], neighbours)[0]
    for r, c in zip(*np.nonzero(removed), strict=True):
        assert filled[r, c] == pytest.approx(neighbour_mean(filled, r, c, neighbours), abs=1e-10)
    np.testing.assert_allclose(filled, dense_solution(gray, removed, neighbours), atol=1e-10)
    np.testing.assert_array_equal(filled[~removed], gray[~removed])


def nested_and_other_masks(size: int) -> np.ndarray:
    """A perturbation run's steps (each holding the one before) between masks that break the
    run: a smaller one, an empty one, a full one, and a second run."""
    steps = [mask(size, (0, 3, 0, 3)), mask(size, (0, 3, 0, 3), (6, 9, 6, 9))]
    steps.append(steps[-1] | mask(size, (3, 6, 0, 9)))
    return np.stack(
        [
            *steps,
            mask(size, (4, 5, 4, 5)),
            np.zeros((size, size), bool),
            np.ones((size, size), bool),
            MASKS["interior block"],
            MASKS["interior block"] | MASKS["corner region"],
        ]
    )


@pytest.mark.parametrize("reordered", [False, True])
def test_masks_of_a_run_share_a_factorisation_and_solve_each_mask(reordered, monkeypatch):
    """Each mask's fill is its own system's solution, whether SuperLU keeps the step order
    (one factorisation per run) or reorders it (then one per mask)."""
    if reordered:
        splu = hcxai.evaluate.faithfulness.imputation.splu

        class Reordered:  # reports a column permutation, as SuperLU may
            def __init__(self, *args, **kwargs):
                self.lu = splu(*args, **kwargs)
                self.perm_c = self.lu.perm_c[::-1]

            def __getattr__(self, name):
                return getattr(self.lu, name)

        monkeypatch.setattr(hcxai.evaluate.faithfulness.imputation, "splu", Reordered)
    removed = nested_and_other_masks(9)
    gray = np.random.default_rng(2).normal(size=(9, 9))
    filled = linear_fills(gray, removed)
    for k in (0, 1, 2, 3, 6, 7):
        np.testing.assert_allclose(filled[k], dense_solution(gray, removed[k], 8), atol=1e-10)
    np.testing.assert_array_equal(filled[4], gray)
    np.testing.assert_array_equal(filled[5], 0.0)


def road_input(size: int = 9, seed: int = 1) -> np.ndarray:
    gray = np.random.default_rng(seed).normal(size=(size, size)).astype(np.float32)
    return np.repeat(gray[..., np.newaxis], 3, axis=-1)


def test_road_keeps_known_pixels_bit_for_bit_and_a_fully_known_image_unchanged():
    x = road_input()
    removed = np.stack([np.zeros((9, 9), bool), *MASKS.values()])
    out = NoisyLinear()(x, removed, np.random.default_rng(0))
    assert out.shape == (len(removed), 9, 9, 3) and out.dtype == x.dtype
    for variant, m in zip(out, removed, strict=True):
        np.testing.assert_array_equal(variant[~m], x[~m])
        assert not np.isclose(variant[m], x[m]).any()  # every removed pixel was filled
        np.testing.assert_array_equal(variant[..., 0], variant[..., 2])  # stays grayscale
    np.testing.assert_array_equal(out[0], x)


def test_road_with_nothing_known_gives_the_least_norm_solution():
    """Every constant solves the equations when no pixel is known; ROAD's code fails there."""
    x = road_input()
    out = NoisyLinear(noise=0.0)(x, np.ones((1, 9, 9), bool), np.random.default_rng(0))
    np.testing.assert_array_equal(out, 0.0)


def test_road_noise_is_drawn_once_per_image_whatever_the_masks_or_their_order():
    """The noise at a pixel is the same in every variant of an image (any analyzer, order
    or step), another image's differs, and its sd is ROAD's 0.01 of the value range."""
    size = 40
    x = road_input(size)
    s = settings(kind="road", subwindow=10)
    masks = np.stack([mask(size, (0, 20, 0, 40)), mask(size, (10, 40, 5, 40))])
    noisy = perturbed_variants(x, "007_HC", masks, s)
    clean = perturbed_variants(x, "007_HC", masks, s, NoisyLinear(noise=0.0))
    noise = noisy[..., 0] - clean[..., 0]
    both = masks[0] & masks[1]
    np.testing.assert_allclose(noise[0][both], noise[1][both], atol=1e-6)
    assert noise[0][both].std() == pytest.approx(0.01 * np.ptp(x), rel=0.1)
    reversed_order = perturbed_variants(x, "007_HC", masks[::-1], s)
    np.testing.assert_array_equal(reversed_order, noisy[::-1])
    other = perturbed_variants(x, "008_HC", masks, s) - clean
    assert not np.allclose(other[0, ..., 0][both], noise[0][both], atol=1e-3)


@pytest.mark.parametrize("kind", ["gaussian", "uniform"])
@pytest.mark.parametrize("mode", MODES)
def test_noise_kinds_draw_one_field_per_image_and_steps_take_regions_from_it(kind, mode):
    """Today's noise, written out: one field over the whole image from the (seed, image id)
    noise stream, every step and order taking its regions from it, the random order's
    ranking from its own stream. Table 1 depends on it bit for bit."""
    rng = np.random.default_rng(4)
    x = road_input(20, seed=2)[np.newaxis].repeat(2, axis=0)
    maps = rng.normal(size=(2, 20, 20))
    s = settings(kind=kind, mode=mode, orders=("morf", "lerf", "random"), random_repeats=2)
    seen = []
    perturbation_curves(
        lambda v: seen.append(v) or np.zeros(len(v)), x, np.zeros(2), maps, ["a", "b"], s
    )
    expected = [x]
    for k, image_id in enumerate(["a", "b"]):
        draw = image_rng(s.seed, image_id, PERTURBATION_NOISE)
        if kind == "gaussian":
            noise = draw.normal(0.0, s.std, (20, 20))
        else:
            noise = draw.uniform(-s.std * np.sqrt(3.0), s.std * np.sqrt(3.0), (20, 20))
        gray = x[k, ..., 0] + noise if mode == "add" else noise
        full = np.repeat(gray.astype(np.float32)[..., np.newaxis], 3, axis=-1)
        scores = region_scores(maps[k : k + 1], s.subwindow)[0]
        for order, repeat in s.runs():
            regions = ranking(scores, order, image_rng(s.seed, image_id, RANDOM_ORDER, repeat))
            areas = perturbed_areas(regions, region_masks(20, s.subwindow), s.steps)
            expected.append(np.where(areas[..., np.newaxis], full, x[k]))
    np.testing.assert_array_equal(seen[0], np.concatenate(expected))


def test_registry_config_and_schema_agree():
    """Every (kind, mode) names an entry, every entry is reachable, the schema lists the kinds."""
    noise = SCHEMA["properties"]["perturbation"]["properties"]["noise"]["properties"]
    assert noise["kind"]["enum"] == list(KINDS)
    assert noise["mode"]["enum"] == list(MODES)
    names = {imputation_name(kind, mode) for kind in KINDS for mode in MODES}
    assert names == set(IMPUTATIONS)
    assert imputation_name("gaussian", "add") == "gaussian_add"  # the paper's, the default
    assert imputation_name("road", "add") == "road"  # mode applies to the noise kinds only


@pytest.mark.parametrize(
    ("kind", "mode", "message"),
    [
        (
            "roads",
            "add",
            "perturbation.noise.kind 'roads' is unknown; "
            "use one of ('gaussian', 'uniform', 'zeros', 'mean', 'blur', 'road')",
        ),
        (
            "gaussian",
            "subtract",
            "perturbation.noise.mode 'subtract' is unknown; use one of ('add', 'replace')",
        ),
    ],
)
def test_an_unknown_imputation_names_the_key_and_the_choices(kind, mode, message):
    with pytest.raises(InputError) as error:
        settings(kind=kind, mode=mode).check(20)
    assert str(error.value) == message


def test_an_unknown_registry_name_names_the_key_and_the_entries():
    with pytest.raises(InputError) as error:
        make("roads", Parameters(std=0.3, subwindow=5), "perturbation.imputations")
    assert str(error.value) == (
        "perturbation.imputations 'roads' is unknown; use one of ('gaussian_add', "
        "'gaussian_replace', 'uniform_add', 'uniform_replace', 'zeros', 'mean', 'blur', 'road')"
    )


def test_output_change_comes_from_the_same_forward_passes():
    """|f(x_k) - f(x_0)| beside |f(x_k) - y|, from one predict call of as many rows."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 20, 20, 3)).astype(np.float32)
    maps, true = rng.normal(size=(3, 20, 20)), np.array([1.0, 50.0, -3.0])
    s = settings(kind="gaussian", mode="add", orders=("morf", "random"), random_repeats=2)
    outputs = []

    def predict(v):
        outputs.append(v.reshape(len(v), -1).sum(axis=1) / 10)
        return outputs[-1]

    default, passes = perturbation_curves(predict, x, true, maps, list("abc"), s)
    both, passes_both = perturbation_curves(predict, x, true, maps, list("abc"), s, None, MEASURES)
    assert len(outputs) == 2 and passes == passes_both == len(outputs[1]) == 3 + 3 * 3 * 4
    assert list(default.columns) == ["image_id", "order", "repeat", "step", "error_px"]
    np.testing.assert_array_equal(both["error_px"], default["error_px"])
    # Rows: image by image, its 3 runs, steps 0..4; f(x_0) first, then every run's steps.
    f0, steps = outputs[1][:3], outputs[1][3:].reshape(9, 4)
    image = np.repeat(np.arange(3), 3)
    curve = np.column_stack([f0[image], steps])
    np.testing.assert_array_equal(both["output_change_px"], np.abs(curve - f0[image, None]).ravel())
    np.testing.assert_array_equal(both["error_px"], np.abs(curve - true[image, None]).ravel())
    with pytest.raises(InputError, match="use one or more of"):
        perturbation_curves(predict, x, true, maps, list("abc"), s, None, ("mse",))


# --- Faithfulness oracles -------------------------------------------------------------------
# A 3 x 3 grid of 5 px regions. Each region's signal sits inside a 1 px margin of zeros, so
# the pixels next to any union of removed regions are zeros: there ROAD imputes exactly the
# zeros reference, and x.w is each pixel's exact contribution under both. Per region: the
# amplitude of x and of w, of the same sign, so every region's contribution is positive.
SIZE, WINDOW, STEPS = 15, 5, 4
AMPLITUDES = [  # (x, w): contributions 0.3, 0.4, 1, 1.8, 0.75, 1.25, 0.625, 1.65, 0.24
    (3.0, 0.1),
    (-0.2, -2.0),
    (1.0, 1.0),
    (-2.0, -0.9),
    (0.5, 1.5),
    (-2.5, -0.5),
    (0.25, 2.5),
    (-1.5, -1.1),
    (0.8, 0.3),
]
REGIONS = region_masks(SIZE, WINDOW)


def linear_fixture(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """x (s, s) and w (s, s): textured regions, x zero on every region's margin."""
    rng = np.random.default_rng(seed)
    x, w = np.zeros((SIZE, SIZE)), np.zeros((SIZE, SIZE))
    inside = np.zeros((SIZE, SIZE), bool)
    for r in range(3):
        for c in range(3):
            inside[r * 5 + 1 : r * 5 + 4, c * 5 + 1 : c * 5 + 4] = True
    for region, (ax, aw) in zip(REGIONS, AMPLITUDES, strict=True):
        x[region & inside] = ax * (1 + 0.3 * rng.uniform(-1, 1, 9))
        w[region] = aw * (1 + 0.3 * rng.uniform(-1, 1, 25))
    return x, w


def as_input(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray.astype(np.float32)[..., np.newaxis], 3, axis=-1)


class Linear:
    """f(v) = b + sum over pixels and channels of (w / 3) v: its gradient is w / 3 on
    every channel, so Input x Gradient summed over channels is x.w."""

    def __init__(self, w: np.ndarray, b: float = 100.0) -> None:
        self.w, self.b = w, b

    def __call__(self, v: np.ndarray) -> np.ndarray:
        return self.b + np.einsum("nijc,ij->n", v.astype(np.float64), self.w) / 3

    def gradient(self, gray: np.ndarray) -> np.ndarray:
        return self.w


class Relu:
    """f(v) = b + sum_j relu(v_j . v) (v_j / 3 on every channel); its gradient at x is the
    sum of the active units' v_j."""

    def __init__(self, units: np.ndarray, b: float = 100.0) -> None:
        self.units, self.b = units, b

    def __call__(self, v: np.ndarray) -> np.ndarray:
        z = np.einsum("nijc,uij->nu", v.astype(np.float64), self.units) / 3
        return self.b + np.maximum(z, 0).sum(axis=1)

    def gradient(self, gray: np.ndarray) -> np.ndarray:
        active = np.einsum("ij,uij->u", gray, self.units) > 0
        return self.units[active].sum(axis=0)


def relu_fixture() -> tuple[np.ndarray, Relu]:
    """Active units whose every product v x is >= 0 and inactive ones whose every product is
    <= 0: removing pixels (to 0) never switches a unit, so x . gradient stays exact. The
    inactive units sit on the regions that matter most, where a map that ignores the ReLU
    (x . sum_j v_j) ranks them last."""
    x, w = linear_fixture(1)
    rng = np.random.default_rng(2)
    sign = np.sign(x)
    active = [np.abs(w) * sign * rng.uniform(0.5, 1.5, w.shape) for _ in range(3)]
    inactive = -sign * 4 * (REGIONS[3] | REGIONS[7] | REGIONS[5])
    return x, Relu(np.stack([*active, inactive * rng.uniform(0.5, 1.5, w.shape)]))


def candidate_maps(x: np.ndarray, model) -> dict[str, np.ndarray]:
    gradient = model.gradient(x)
    maps = {
        "input_x_gradient": x * gradient,  # the exact contributions
        "gradient": np.abs(gradient),
        "input": x,
        "random": np.random.default_rng(3).normal(size=x.shape),
    }
    if isinstance(model, Relu):
        maps["ignoring_relu"] = x * model.units.sum(axis=0)
    return maps


def morf_aopc(model, x, maps, s, imputation=None, true=None, ids=("toy",)):
    """Mean MoRF AOPC per map over images `ids` (all with image x)."""
    n = len(ids)
    inputs = np.repeat(as_input(x)[np.newaxis], n, axis=0)
    true = model(inputs) if true is None else np.full(n, true)
    out = {}
    for name, m in maps.items():
        curves, _ = perturbation_curves(
            model, inputs, true, np.repeat(m[np.newaxis], n, axis=0), list(ids), s, imputation
        )
        out[name] = np.mean(
            [aopc_of_curve(run["error_px"]) for _, run in curves.groupby("image_id")]
        )
    return out


def ideal_aopc(model, x, true):
    """The lowest MoRF AOPC of any sequence of STEPS regions, the regions set to zero."""
    errors = {}
    for removed in itertools.chain.from_iterable(
        itertools.combinations(range(9), k) for k in range(STEPS + 1)
    ):
        area = REGIONS[list(removed)].any(axis=0)
        errors[frozenset(removed)] = abs(
            model(as_input(np.where(area, 0, x))[np.newaxis])[0] - true
        )
    return min(
        aopc_of_curve([errors[frozenset(seq[:k])] for k in range(STEPS + 1)])
        for seq in itertools.permutations(range(9), STEPS)
    )


REMOVALS = {"zeros": None, "road (noise-free)": NoisyLinear(noise=0.0)}


@pytest.mark.parametrize("removal", list(REMOVALS))
@pytest.mark.parametrize("model_name", ["linear", "relu"])
def test_removal_ranks_the_exact_contributions_first(removal, model_name):
    """Under a removal imputation Input x Gradient, each pixel's exact contribution, has the
    lowest MoRF AOPC of the maps, and it is the ideal ordering's. The error is |f(x_k) - y|
    with y above f(x): removing positive contributions raises it."""
    if model_name == "linear":
        x, w = linear_fixture()
        model = Linear(w)
    else:
        x, model = relu_fixture()
    true = model(as_input(x)[np.newaxis])[0] + 5.0
    s = settings(kind="road" if removal.startswith("road") else "zeros")
    aopc = morf_aopc(model, x, candidate_maps(x, model), s, REMOVALS[removal], true)
    best = aopc.pop("input_x_gradient")
    assert best == pytest.approx(ideal_aopc(model, x, true), abs=1e-9)
    assert all(best < other - 0.05 for other in aopc.values()), (best, aopc)


def test_road_with_its_noise_still_ranks_the_exact_contributions_first():
    x, w = linear_fixture()
    model = Linear(w)
    aopc = morf_aopc(model, x, candidate_maps(x, model), settings(kind="road"), None, None)
    best = aopc.pop("input_x_gradient")
    assert all(best < other for other in aopc.values()), (best, aopc)


def test_additive_noise_rewards_the_gradient_magnitude_not_the_contribution():
    """The documented property: adding zero-mean noise n to a linear model's input changes its
    output by n.w over the perturbed pixels, whatever x is there. So MoRF with additive noise
    rewards the map that ranks large |w| first (Gradient) over x.w (the exact contributions),
    while removing the same regions (zeros, or noise replacing them) ranks x.w first."""
    x, w = linear_fixture()
    model = Linear(w)
    additive = settings(kind="gaussian", mode="add")
    ids = [f"{i:03d}_HC" for i in range(100)]
    removed = perturbed_areas(np.arange(9), REGIONS, STEPS)
    changes = [
        model(perturbed_variants(as_input(scale * x), "007_HC", removed, additive))
        - model(as_input(scale * x)[np.newaxis])
        for scale in (1.0, -3.0)
    ]
    np.testing.assert_allclose(changes[0], changes[1], atol=1e-5)  # x plays no part (float32)
    maps = candidate_maps(x, model)
    noise = morf_aopc(model, x, maps, additive, ids=ids)
    assert noise["gradient"] < noise["input_x_gradient"] - 0.5, noise
    zeros = morf_aopc(model, x, maps, settings(), ids=ids[:1])
    assert zeros["input_x_gradient"] < zeros["gradient"] - 0.5, zeros
    replaced = morf_aopc(model, x, maps, settings(kind="gaussian", mode="replace"), ids=ids)
    assert replaced["input_x_gradient"] < replaced["gradient"] - 0.5, replaced
