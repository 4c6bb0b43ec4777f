"""The loss comparison figure (hcxai.figures.plots.plot_loss_comparison) draws the tables' numbers.

Oracle: the tables are built here with known values; each bar of the figure
must stand at its table value, in its backbone's column and its loss's colour.
"""

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pytest

from hcxai.core.io import InputError
from hcxai.evaluate.localization.skull import SUMMARISED
from hcxai.figures.inputs import write_loss_comparison_figure
from hcxai.figures.plots import plot_loss_comparison

BACKBONES, LOSSES = ["vgg16", "resnet50"], ["mae", "huber"]
ANALYZERS = ["random", "gradient", "lrp"]  # not the paper's order: the figure sorts them
PAPER = ["gradient", "lrp", "random"]


def value(backbone: str, loss: str, analyzer: str, base: float) -> float:
    """A distinct number per cell, so a bar in the wrong place is caught."""
    return (
        base + 10 * BACKBONES.index(backbone) + 3 * LOSSES.index(loss) + ANALYZERS.index(analyzer)
    )


def tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    stats, localization, mae = [], [], []
    for backbone in BACKBONES:
        for loss in LOSSES:
            model = {"backbone": backbone, "loss": loss}
            for analyzer in ANALYZERS:
                aopc, focus = (
                    value(backbone, loss, analyzer, -50),
                    value(backbone, loss, analyzer, 1),
                )
                for order in ("morf", "random"):
                    shift = 0 if order == "morf" else 100  # the random order must be ignored
                    stats.append({**model, "analyzer": analyzer, "order": order, "n_images": 4,
                                  "aopc_mean": aopc + shift, "aopc_ci_low": aopc + shift - 1,
                                  "aopc_ci_high": aopc + shift + 1, "friedman_mean_rank": 1.0,
                                  "aopc_minus_random": 0.0, "aopc_minus_random_ci_low": 0.0,
                                  "aopc_minus_random_ci_high": 0.0, "p_vs_random": 1.0,
                                  "p_vs_random_holm": 1.0, "same_map_as": ""})  # fmt: skip
                scores = {f"{metric}_{part}": 0.5 for metric in SUMMARISED
                          for part in ("mean", "ci_low", "ci_high")}  # fmt: skip
                localization.append({**model, "analyzer": analyzer, "n_images": 4, **scores,
                                     "skull_focus_mean": focus, "skull_focus_ci_low": focus - 0.5,
                                     "skull_focus_ci_high": focus + 0.5,
                                     "p_vs_edge": 1.0, "p_vs_edge_holm": 1.0})  # fmt: skip
            for fold in ("all", "0"):
                mae.append({**model, "fold": fold, "n_test": 4,
                            "mae_px": value(backbone, loss, "random", 20) + (fold == "0") * 99,
                            "sd_px": 2.0, "mae_mm": 1.0, "sd_mm": 0.1, "baseline_mae_px": 80.0,
                            "ba_mean_diff_px": 0.0, "ba_loa_low_px": -1.0,
                            "ba_loa_high_px": 1.0})  # fmt: skip
    return pd.DataFrame(stats), pd.DataFrame(localization), pd.DataFrame(mae)


def bars(axis) -> list[tuple[float, float, tuple]]:
    """(x centre, height, colour) of every bar of an axis."""
    return [
        (p.get_x() + p.get_width() / 2, p.get_height(), mcolors.to_rgb(p.get_facecolor()))
        for p in axis.patches
    ]


def test_each_bar_stands_at_its_tables_value_in_its_losses_colour(tmp_path):
    stats, localization, mae = tables()  # the random order's rows must be left out
    figure = plot_loss_comparison(stats, localization, mae, str(tmp_path / "losses.png"))
    axes = np.array(figure.axes[: 3 * len(BACKBONES)]).reshape(3, len(BACKBONES))
    colour = {loss: mcolors.to_rgb(f"C{k}") for k, loss in enumerate(LOSSES)}
    for column, backbone in enumerate(BACKBONES):
        top, middle, bottom = axes[:, column]
        assert backbone in top.get_title() and backbone in bottom.get_title()
        assert [t.get_text() for t in top.get_xticklabels()] == PAPER
        for axis, base in ((top, -50), (middle, 1)):
            drawn = bars(axis)
            assert len(drawn) == len(PAPER) * len(LOSSES)
            for x, height, rgb in drawn:
                analyzer = PAPER[round(x)]
                loss = next(k for k, c in colour.items() if c == rgb)
                assert height == pytest.approx(value(backbone, loss, analyzer, base))
        heights = {t.get_text(): p.get_height() for t, p in
                   zip(bottom.get_xticklabels(), bottom.patches, strict=True)}  # fmt: skip
        assert heights == {loss: value(backbone, loss, "random", 20) for loss in LOSSES}
    legend = [t.get_text() for t in axes[0, 0].get_legend().get_texts()]
    assert legend == LOSSES
    assert (tmp_path / "losses.png").stat().st_size > 10_000


def test_the_rule_reads_the_three_tables_and_refuses_stats_without_morf(tmp_path):
    stats, localization, mae = tables()
    paths = {name: tmp_path / f"{name}.csv" for name in ("stats", "localization", "mae")}
    for frame, name in ((stats, "stats"), (localization, "localization"), (mae, "mae")):
        frame.to_csv(paths[name], index=False)
    out = tmp_path / "figure.png"
    write_loss_comparison_figure(str(paths["stats"]), str(paths["localization"]),
                                 str(paths["mae"]), str(out))  # fmt: skip
    assert out.stat().st_size > 10_000
    stats[stats["order"] != "morf"].to_csv(paths["stats"], index=False)
    out.unlink()
    with pytest.raises(InputError, match=r"no MoRF rows; add morf to perturbation\.orders"):
        write_loss_comparison_figure(str(paths["stats"]), str(paths["localization"]),
                                     str(paths["mae"]), str(out))  # fmt: skip
    assert not out.exists()
