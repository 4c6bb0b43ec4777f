"""Statistics of the per-image AOPCs (hcxai.stats.inference), against oracles computed by hand.

The oracles: a shift built into synthetic AOPCs (and its sign), the exact null
distribution of the signed-rank statistic for n = 4 and n = 6 enumerated here,
Holm's step-down done by hand, Friedman ranks and chi-square of tiny tables
ranked by hand, and the coverage of a 95% interval around a known mean.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, run_snakemake, write_config
from scipy import stats as scipy_stats

from hcxai.core.io import InputError
from hcxai.evaluate.faithfulness.aopc_statistics import (
    PER_IMAGE_COLUMNS,
    aopc_pairwise,
    aopc_stats,
    duplicate_analyzers,
    friedman,
    mean_ranks,
    write_statistics,
)
from hcxai.figures.inputs import write_critical_difference_figure
from hcxai.stats.inference import holm, signed_rank_test

BOOT = {"confidence": 0.95, "n_resamples": 2000, "seed": 2020}


def table(
    values: dict[str, list[float]], backbone: str = "vgg16", order: str = "morf", loss: str = "mae"
):
    """Per-image AOPC rows: analyzer -> one AOPC per image (images 0, 1, ... of fold 0)."""
    return pd.DataFrame(
        [
            (backbone, loss, analyzer, 0, f"{i:03d}_HC", order, float(v))
            for analyzer, column in values.items()
            for i, v in enumerate(column)
        ],
        columns=PER_IMAGE_COLUMNS,
    )


def pair(pairs: pd.DataFrame, a: str, b: str) -> pd.Series:
    (index,) = pairs.index[(pairs["analyzer_a"] == a) & (pairs["analyzer_b"] == b)]
    return pairs.loc[index]


def exact_two_sided_p(n: int, t: int) -> float:
    """2 P(min(R+, R-) <= t) under H0, all 2^n sign patterns of ranks 1..n equally likely.

    counts[s] = how many subsets of {1..n} sum to s (= patterns with R+ = s), built up rank
    by rank.
    """
    counts = [1] + [0] * (n * (n + 1) // 2)
    for rank in range(1, n + 1):
        for s in range(len(counts) - 1, rank - 1, -1):
            counts[s] += counts[s - rank]
    return min(1.0, 2 * sum(counts[: t + 1]) / 2**n)


def test_a_known_shift_is_detected_with_its_sign():
    rng = np.random.default_rng(1)
    b = rng.normal(-5, 3, 48)
    a = b - 1.5 + rng.uniform(-0.5, 0.5, 48)  # lower (better) on every image, by construction
    c = b + rng.normal(0, 1, 48)  # no shift
    per_image = pd.concat(
        [
            table({"A": a, "B": b, "C": c}, backbone="vgg16"),
            table({"B": b, "A": a}, backbone="resnet50"),  # the better one second
            table({"A": c, "B": b}, backbone="vgg16", loss="huber"),  # another model: no shift
        ]
    )
    pairs = aopc_pairwise(per_image, alpha=0.05)
    vgg = pairs[(pairs["backbone"] == "vgg16") & (pairs["loss"] == "mae")]
    resnet = pairs[pairs["backbone"] == "resnet50"]
    huber = pairs[pairs["loss"] == "huber"]
    assert (len(vgg), len(resnet), len(huber)) == (3, 1, 1)  # each model is its own family
    assert huber["p_holm"].iloc[0] == huber["p"].iloc[0] and huber["better"].iloc[0] == ""
    shifted = pair(vgg, "A", "B")
    assert shifted["p_holm"] < 0.05 and shifted["better"] == "A"
    # Every a - b < 0: R+ = 0, so the statistic is 0 and the rank-biserial effect is -1.
    assert shifted["wilcoxon_statistic"] == 0 and shifted["effect_size"] == -1
    assert shifted["p"] == pytest.approx(exact_two_sided_p(48, 0))
    assert pair(vgg, "A", "C")["better"] == "A" and pair(vgg, "A", "C")["effect_size"] < 0
    null = pair(vgg, "B", "C")
    assert null["p_holm"] >= 0.05 and null["better"] == ""
    swapped = pair(resnet, "B", "A")
    assert swapped["effect_size"] == 1 and swapped["better"] == "A"


def test_no_shift_is_detected_at_about_alpha():
    """400 null data sets of 24 images: the signed-rank test's false-positive rate ~ alpha.

    (signed_rank_test, the test of every pair; a single pair per backbone has p_holm = p.)
    """
    rng = np.random.default_rng(2)
    b = rng.normal(-5, 3, (400, 24))
    a = b + rng.normal(0, 1, (400, 24))
    p = np.array([signed_rank_test(x, y)[1] for x, y in zip(a, b, strict=True)])
    assert 0.025 <= (p < 0.05).mean() <= 0.08
    pairs = aopc_pairwise(table({"A": a[0], "B": b[0]}), alpha=0.05)
    assert pairs["p_holm"].tolist() == [p[0]] and pairs["better"].tolist() == [""]


def test_effect_size_comes_from_the_signed_ranks():
    # d = a - b = [-1, -2, -3, +4]: ranks of |d| 1..4, R- = 6, R+ = 4.
    pairs = aopc_pairwise(table({"A": [-1, -2, -3, 4], "B": [0, 0, 0, 0]}), alpha=0.05)
    row = pair(pairs, "A", "B")
    assert row["effect_size"] == pytest.approx((4 - 6) / (4 + 6))
    assert row["wilcoxon_statistic"] == 4
    assert row["p"] == pytest.approx(14 / 16)  # 7 of 16 sign patterns have min(R+, R-) <= 4
    assert row["better"] == ""


def test_holm_adjustment_by_hand():
    """Three pairs whose exact p-values are known: 2/64, 4/64 and 6/64 (n = 6, no ties)."""
    a = [-10, -20, -30, -40, -50, -60]
    b = [0] * 6
    c = [-10.5, 1, 20, 30, 40, 50]
    # A - B: all negative, T = 0. A - C: [0.5, -21, -50, -70, -90, -110], T = R+ = 1.
    # B - C: [10.5, -1, -20, -30, -40, -50], the one positive has rank 2: T = 2.
    raw = {("A", "B"): 2 / 64, ("A", "C"): 4 / 64, ("B", "C"): 6 / 64}
    assert raw == {k: exact_two_sided_p(6, t) for k, t in zip(raw, (0, 1, 2), strict=True)}
    # Holm: sorted p times (3, 2, 1), then a running maximum.
    holm = {("A", "B"): 3 * 2 / 64, ("A", "C"): max(3 * 2 / 64, 2 * 4 / 64)}
    holm[("B", "C")] = max(holm[("A", "C")], 1 * 6 / 64)
    per_image = table({"A": a, "B": b, "C": c})
    for alpha, better in ((0.05, ["", "", ""]), (0.1, ["A", "", ""])):
        pairs = aopc_pairwise(per_image, alpha=alpha)
        for (x, y), want in holm.items():
            assert pair(pairs, x, y)["p"] == pytest.approx(raw[(x, y)])
            assert pair(pairs, x, y)["p_holm"] == pytest.approx(want)
        assert pairs["better"].tolist() == better  # 0.09375 < 0.1, but not < 0.05


def test_identical_analyzers_are_a_tie_not_a_difference():
    x = np.linspace(-9, -1, 10)
    row = aopc_pairwise(table({"lrp": x, "input_x_gradient": x + 1e-12}), alpha=0.05).iloc[0]
    assert (row["p"], row["p_holm"], row["effect_size"], row["better"]) == (1, 1, 0, "")


def test_friedman_ranks_and_statistic_by_hand():
    # image 0: A < B < C; image 1: B < C < A; image 2: C < A = B (tie: 2.5 each).
    per_image = table({"A": [-3, -1, -2], "B": [-2, -3, -2], "C": [-1, -2, -5]})
    ranks = mean_ranks(per_image.pivot(index="image_id", columns="analyzer", values="aopc"))
    assert ranks.to_dict() == pytest.approx({"A": 6.5 / 3, "B": 5.5 / 3, "C": 6 / 3})
    stats = aopc_stats(per_image, **BOOT)
    assert stats["friedman_mean_rank"].tolist() == pytest.approx([6.5 / 3, 5.5 / 3, 2])
    # Four images, A < B < C on each: rank sums 4, 8, 12, so
    # chi2 = 12 / (n k (k + 1)) * sum(R^2) - 3 n (k + 1) = 12 / 48 * 224 - 48 = 8, and the
    # chi-square survival function with 2 degrees of freedom is exp(-x / 2).
    ordered = table({"A": [-9, -8, -7, -6], "B": [-5, -4, -3, -2], "C": [0, 1, 2, 3]})
    result = friedman(ordered).iloc[0]
    assert (result["n_images"], result["n_analyzers"]) == (4, 3)
    assert result["statistic"] == pytest.approx(8)
    assert result["p"] == pytest.approx(np.exp(-4))


# Five images; lrp repeats input_x_gradient (up to float noise), gradient does not.
DISTINCT = {
    "gradient": [-9.0, -3.0, -4.0, -1.0, -6.0],
    "smoothgrad": [-2.0, -8.0, -5.0, -7.0, -3.0],
    "input_x_gradient": [-4.0, -5.0, -1.0, -3.0, -2.0],
}
WITH_COPY = {**DISTINCT, "lrp": [v + 1e-12 for v in DISTINCT["input_x_gradient"]]}


def test_identical_analyzers_are_found_and_the_first_in_the_paper_order_is_kept():
    # lrp comes first in the table, input_x_gradient first in the paper's order.
    matrix = pd.DataFrame({"lrp": WITH_COPY["lrp"], **DISTINCT})
    assert duplicate_analyzers(matrix) == {"lrp": "input_x_gradient"}
    # Equal on four images of five is no duplicate.
    almost = {**DISTINCT, "lrp": [*DISTINCT["input_x_gradient"][:4], 0.0]}
    assert duplicate_analyzers(pd.DataFrame(almost)) == {}


def test_friedman_counts_a_repeated_map_once():
    """Fails on the code before #23 item 5, which ranked lrp and input_x_gradient as two
    analyzers (4 columns, chi2 of the tied pair) and had no n_distinct."""
    result = friedman(table(WITH_COPY)).iloc[0]
    oracle = scipy_stats.friedmanchisquare(*DISTINCT.values())
    assert result["statistic"] == pytest.approx(oracle.statistic)
    assert result["p"] == pytest.approx(oracle.pvalue)
    assert (result["n_analyzers"], result["n_distinct"]) == (4, 3)
    assert result["duplicates"] == "lrp=input_x_gradient"
    # The duplicate keeps its row, with the rank of the map it repeats among the distinct.
    stats = aopc_stats(table(WITH_COPY), **BOOT).set_index("analyzer")
    oracle_ranks = pd.DataFrame(DISTINCT).rank(axis=1).mean()
    for analyzer, rank in oracle_ranks.items():
        assert stats.loc[analyzer, "friedman_mean_rank"] == pytest.approx(rank)
    assert stats.loc["lrp", "friedman_mean_rank"] == pytest.approx(oracle_ranks["input_x_gradient"])
    assert stats["same_map_as"].to_dict() == {
        "gradient": "",
        "smoothgrad": "",
        "input_x_gradient": "",
        "lrp": "input_x_gradient",
    }


def test_means_and_paired_differences_to_the_random_order_by_hand():
    per_image = pd.concat(
        [
            table({"A": [-3, -5], "B": [-1, -1]}, order="morf"),
            table({"A": [-1, -2], "B": [-1, -2]}, order="random"),
        ]
    )
    stats = aopc_stats(per_image, **BOOT).set_index(["analyzer", "order"])
    assert stats.index.tolist() == [("A", "morf"), ("A", "random"), ("B", "morf"), ("B", "random")]
    assert stats.loc[("A", "morf"), "aopc_mean"] == -4
    assert stats.loc[("A", "morf"), "aopc_minus_random"] == ((-3 + 1) + (-5 + 2)) / 2
    assert stats.loc[("B", "morf"), "aopc_minus_random"] == ((-1 + 1) + (-1 + 2)) / 2
    assert stats.xs("random", level="order")["aopc_minus_random"].isna().all()
    assert (stats["n_images"] == 2).all()


def test_p_vs_random_is_wilcoxon_and_holm_over_the_models_analyzers_by_hand():
    """Per model and order, MoRF against the random order on the same 10 images.

    Oracles: the exact signed-rank null (T = 0, 6 and 25 of n = 10), scipy.stats.wilcoxon
    on the differences, and Holm's step-down by hand over the model's three analyzers;
    another model is its own family, and the random order's rows are no test (NaN).
    """
    random = -np.arange(10.0)
    differences = {
        "A": np.array([-1, -2, -3, -4, -5, -6, -7, -8, -9, -10]),  # T = 0
        "B": np.array([1, -2, -3, -4, 5, -6, -7, -8, -9, -10]),  # T = 1 + 5 = 6
        "C": np.array([1, -2, 3, -4, 5, -6, 7, -8, 9, -10]),  # R+ = 25, R- = 30: T = 25
    }
    per_image = pd.concat(
        [
            table({a: random + d for a, d in differences.items()}),
            table(dict.fromkeys(differences, random), order="random"),
            table({"B": random + differences["B"]}, backbone="resnet50"),
            table({"B": random}, backbone="resnet50", order="random"),
        ]
    )
    stats = aopc_stats(per_image, **BOOT).set_index(["backbone", "analyzer", "order"])
    raw = {a: exact_two_sided_p(10, t) for a, t in zip("ABC", (0, 6, 25), strict=True)}
    assert (raw["A"], raw["B"]) == (2 / 1024, 28 / 1024)
    for a, d in differences.items():
        assert raw[a] == pytest.approx(scipy_stats.wilcoxon(d).pvalue, rel=1e-12)
        assert stats.loc[("vgg16", a, "morf"), "p_vs_random"] == pytest.approx(raw[a])
    # Holm: the sorted p (A < B < C) times 3, 2, 1, then a running maximum.
    adjusted = {"A": 3 * raw["A"]}
    adjusted["B"] = max(adjusted["A"], 2 * raw["B"])
    adjusted["C"] = min(1.0, max(adjusted["B"], raw["C"]))
    for a, want in adjusted.items():
        assert stats.loc[("vgg16", a, "morf"), "p_vs_random_holm"] == pytest.approx(want)
    # B: a CI wholly below 0 (8 of 10 differences negative) and raw p < 0.05, lifted by Holm.
    assert stats.loc[("vgg16", "B", "morf"), "aopc_minus_random_ci_high"] < 0
    assert raw["B"] < 0.05 < adjusted["B"]
    alone = stats.loc[("resnet50", "B", "morf")]
    assert alone["p_vs_random_holm"] == pytest.approx(raw["B"])  # a family of one
    random_rows = stats.xs("random", level="order")
    assert random_rows[["p_vs_random", "p_vs_random_holm"]].isna().all().all()


def test_holm_leaves_a_missing_test_out_of_the_family():
    adjusted = holm(np.array([0.01, np.nan, 0.02]))
    assert np.isnan(adjusted[1])
    np.testing.assert_allclose(adjusted[[0, 2]], [2 * 0.01, 0.02])


def test_bootstrap_intervals_cover_the_true_mean_about_95_percent():
    """300 analyzers, each 48 images drawn from known normals: the CI of the mean AOPC and
    the CI of the paired difference to the random order each cover the truth ~95%."""
    rng = np.random.default_rng(3)
    shift, random_mean = -1.0, -3.0
    names = [f"a{k}" for k in range(300)]
    random = {name: rng.normal(random_mean, 2.0, 48) for name in names}
    morf = {name: random[name] + shift + rng.normal(0, 1.5, 48) for name in names}
    per_image = pd.concat([table(morf), table(random, order="random")])
    stats = aopc_stats(per_image, **BOOT)
    rows = stats[stats["order"] == "morf"]
    assert len(rows) == 300
    covers_mean = (rows["aopc_ci_low"] <= random_mean + shift) & (
        random_mean + shift <= rows["aopc_ci_high"]
    )
    covers_shift = (rows["aopc_minus_random_ci_low"] <= shift) & (
        shift <= rows["aopc_minus_random_ci_high"]
    )
    assert 0.91 <= covers_mean.mean() <= 0.98
    assert 0.91 <= covers_shift.mean() <= 0.98


def pair_files(
    root, analyzers=("gradient", "random"), backbones=("vgg16",), n=12, seed=0, losses=("mae",)
):
    """Synthetic pair AOPC files as rule aopc_per_image writes them (orders morf and random)."""
    rng = np.random.default_rng(seed)
    files = []
    for backbone, loss in itertools.product(backbones, losses):
        random = rng.normal(-2, 1, n)
        for k, analyzer in enumerate(analyzers):
            morf = random - k + rng.normal(0, 0.5, n)
            frame = pd.concat(
                [
                    table({analyzer: morf}, backbone, "morf", loss),
                    table({analyzer: random}, backbone, "random", loss),
                ]
            ).assign(fold=lambda f: f["image_id"].str[:3].astype(int) % 3)
            path = root / "results" / "aopc" / backbone / loss / f"{analyzer}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            frame.to_csv(path, index=False)
            files.append(path)
    return files


def write(files, root):
    write_statistics(
        [str(f) for f in files],
        root / "stats.csv",
        root / "pairwise.csv",
        root / "friedman.csv",
        bootstrap_samples=1000,
        confidence=0.95,
        alpha=0.05,
        seed=1,
    )


def test_bad_pair_files_are_named_with_the_fix(tmp_path):
    files = pair_files(tmp_path, analyzers=("gradient", "smoothgrad", "random"))
    pd.read_csv(files[1]).drop(columns="order").to_csv(files[1], index=False)
    with pytest.raises(
        InputError, match=rf"{files[1]} lacks the column\(s\) \['order'\].*aopc_per_image"
    ):
        write(files, tmp_path)

    files = pair_files(tmp_path, analyzers=("gradient", "smoothgrad", "random"))
    frame = pd.read_csv(files[2])
    frame[frame["image_id"] != "003_HC"].to_csv(files[2], index=False)
    with pytest.raises(InputError, match="cover different images") as error:
        write(files, tmp_path)
    assert str(files[2]) in str(error.value) and str(files[0]) in str(error.value)
    assert "003_HC" in str(error.value)

    files = pair_files(tmp_path)
    for path in files:
        frame = pd.read_csv(path)
        frame[frame["order"] != "morf"].to_csv(path, index=False)
    with pytest.raises(InputError, match=r"add morf to perturbation\.orders"):
        write(files, tmp_path)
    assert not (tmp_path / "stats.csv").exists()  # nothing half-written


def test_statistics_and_figure_from_pair_files(tmp_path):
    analyzers = ("gradient", "smoothgrad", "lrp", "random")
    files = pair_files(tmp_path, analyzers=analyzers, backbones=("vgg16", "resnet50"))
    write(files, tmp_path)
    stats = pd.read_csv(tmp_path / "stats.csv")
    pairs = pd.read_csv(tmp_path / "pairwise.csv", keep_default_na=False)
    tests = pd.read_csv(tmp_path / "friedman.csv")
    assert len(stats) == 2 * 4 * 2 and (stats["n_images"] == 12).all()
    assert len(pairs) == 2 * 6 and set(pairs["better"]) <= {"", *analyzers}
    assert tests["backbone"].tolist() == ["vgg16", "resnet50"]
    assert (tests["n_analyzers"] == 4).all()
    write_critical_difference_figure(
        tmp_path / "stats.csv", tmp_path / "pairwise.csv", 0.05, tmp_path / "cd.png"
    )
    assert (tmp_path / "cd.png").stat().st_size > 10_000


@pytest.mark.slow
def test_rules_build_the_statistics_and_rerun_on_a_changed_setting(tmp_path):
    """The two rules on pair files in a scratch working directory (nothing upstream runs)."""
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    pair_files(
        tmp_path,
        analyzers=config["analyzers"],
        backbones=config["backbones"],
        n=15,
        losses=config["losses"],
    )
    targets = ["results/aopc_stats.csv", "results/figures/aopc_critical_difference.png"]
    only = ["--allowed-rules", "aopc_statistics", "figure"]
    run_snakemake(tmp_path, REPO / "config" / "test.yaml", "--cores", "1", *targets, *only)
    for name in ("aopc_stats.csv", "aopc_pairwise.csv", "aopc_friedman.csv"):
        assert (tmp_path / "results" / name).stat().st_size > 0
    assert (tmp_path / "results" / "figures" / "aopc_critical_difference.png").exists()
    assert "Friedman's test" in (tmp_path / "logs" / "aopc_statistics.log").read_text()
    changed = write_config(tmp_path / "seed7.yaml", statistics={"seed": 7})
    dry = run_snakemake(tmp_path, changed, "-n", *targets, *only).stdout
    assert "rule aopc_statistics" in dry and "Params have changed" in dry
