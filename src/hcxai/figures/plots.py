"""Figures a paper could use: agreement plots, saliency grids, perturbation curves.

Matplotlib only (no TensorFlow): figures are drawn in the workflow env from
the CSV and HDF5 files the other steps wrote. Rows and panels are per model, a
backbone trained with a loss, named by its label `backbone/loss`
(`hcxai.core.keys.model_label`) in the `model` column or key that `hcxai.figures.inputs`
adds.
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hcxai.core.io import atomic_output
from hcxai.explain.analyzers import PAPER_ORDER
from hcxai.explain.saliency_file import SaliencyFile

DPI = 150


def save(figure: plt.Figure, path: str) -> None:
    """Write a figure atomically and free it.

    The `plot_*` functions return the (closed) figure, so a test can read what
    was drawn: its axes, lines and titles keep their data after closing.
    """
    with atomic_output(path) as tmp:
        figure.savefig(tmp, dpi=DPI, bbox_inches="tight")
    plt.close(figure)


def plot_hc_agreement(test: pd.DataFrame, table: pd.DataFrame, path: str) -> plt.Figure:
    """Per model: predicted vs true HC, and the Bland-Altman plot, over all test images."""
    models = list(dict.fromkeys(test["model"]))
    figure, axes = plt.subplots(len(models), 2, figsize=(9, 4 * len(models)), squeeze=False)
    for (scatter, agreement), model in zip(axes, models, strict=True):
        rows = test[test["model"] == model]
        summary = table[(table["model"] == model) & (table["fold"] == "all")].iloc[0]
        true, pred = rows["hc_true_px"].to_numpy(), rows["hc_pred_px"].to_numpy()
        limits = [min(true.min(), pred.min()) * 0.95, max(true.max(), pred.max()) * 1.05]
        for fold, fold_rows in rows.groupby("fold"):
            scatter.scatter(
                fold_rows["hc_true_px"],
                fold_rows["hc_pred_px"],
                s=10,
                alpha=0.7,
                label=f"fold {fold}",
            )
        scatter.plot(limits, limits, color="black", linewidth=1, label="identity")
        scatter.set(
            xlim=limits,
            ylim=limits,
            xlabel="true HC (px)",
            ylabel="predicted HC (px)",
            title=f"Reg-{model}: MAE {summary.mae_px:.1f} ± {summary.sd_px:.1f} px "
            f"({summary.mae_mm:.2f} ± {summary.sd_mm:.2f} mm)",
        )
        scatter.set_aspect("equal")
        scatter.legend(fontsize=8, loc="upper left")
        mean = (true + pred) / 2
        agreement.scatter(mean, pred - true, s=10, alpha=0.7, color="tab:blue")
        for value, style, label in (
            (summary.ba_mean_diff_px, "-", f"mean {summary.ba_mean_diff_px:.1f}"),
            (summary.ba_loa_low_px, "--", f"-1.96 SD {summary.ba_loa_low_px:.1f}"),
            (summary.ba_loa_high_px, "--", f"+1.96 SD {summary.ba_loa_high_px:.1f}"),
        ):
            agreement.axhline(value, color="tab:red", linestyle=style, linewidth=1, label=label)
        agreement.set(
            xlabel="mean of predicted and true HC (px)",
            ylabel="predicted - true HC (px)",
            title=f"Reg-{model}: Bland-Altman",
        )
        agreement.legend(fontsize=8)
    figure.tight_layout()
    save(figure, path)
    return figure


def _overlay(axis: plt.Axes, image: np.ndarray, saliency: np.ndarray, title: str) -> None:
    """A saliency map over its image on a diverging colormap, symmetric about zero."""
    limit = float(np.percentile(np.abs(saliency), 99.5)) or 1.0
    axis.imshow(image, cmap="gray")
    axis.imshow(saliency, cmap="seismic", vmin=-limit, vmax=limit, alpha=0.6)
    axis.set_title(title, fontsize=7)
    axis.axis("off")


def plot_saliency_comparison(
    maps: dict[tuple[str, str], SaliencyFile],
    images: dict[str, np.ndarray],
    image_ids: list[str],
    path: str,
) -> plt.Figure:
    """Paper Fig. 2: a row per model and image, a column per analyzer.

    `maps[(model, analyzer)]` holds one fold's maps; each panel gives the
    predicted (P) and true (T) HC in px.
    """
    models = list(dict.fromkeys(b for b, _ in maps))
    analyzers = list(dict.fromkeys(a for _, a in maps))
    rows = [(b, i) for i in image_ids for b in models]
    figure, axes = plt.subplots(
        len(rows),
        len(analyzers) + 1,
        figsize=(1.6 * (len(analyzers) + 1), 1.8 * len(rows)),
        squeeze=False,
    )
    for row_axes, (model, image_id) in zip(axes, rows, strict=True):
        first = maps[(model, analyzers[0])]
        k = first.image_ids.index(image_id)
        row_axes[0].imshow(images[image_id], cmap="gray")
        row_axes[0].set_title(f"Reg-{model}\n{image_id}", fontsize=7)
        row_axes[0].axis("off")
        for axis, analyzer in zip(row_axes[1:], analyzers, strict=True):
            found = maps[(model, analyzer)]
            _overlay(
                axis,
                images[image_id],
                found.maps[k],
                f"{analyzer}\nP {found.hc_pred_px[k]:.0f} T {found.hc_true_px[k]:.0f}",
            )
    figure.tight_layout()
    save(figure, path)
    return figure


def plot_best_worst(
    maps: dict[str, list[SaliencyFile]],
    images: dict[str, np.ndarray],
    analyzer: str,
    path: str,
    n: int = 3,
) -> plt.Figure:
    """Paper Fig. 5: one analyzer's maps of the n best and n worst predicted test images."""
    figure, axes = plt.subplots(
        len(maps), 2 * n, figsize=(2.0 * 2 * n, 2.6 * len(maps)), squeeze=False
    )
    for row_axes, (model, files) in zip(axes, maps.items(), strict=True):
        entries = [
            (abs(f.hc_pred_px[k] - f.hc_true_px[k]), f, k)
            for f in files
            for k in range(len(f.image_ids))
        ]
        entries.sort(key=lambda e: e[0])
        chosen = entries[:n] + entries[-n:]
        for j, (axis, (error, found, k)) in enumerate(zip(row_axes, chosen, strict=True)):
            label = "best" if j < n else "worst"
            _overlay(
                axis,
                images[found.image_ids[k]],
                found.maps[k],
                f"Reg-{model} {label}: |err| {error:.0f} px\n"
                f"P {found.hc_pred_px[k]:.0f} T {found.hc_true_px[k]:.0f}",
            )
    explained = {sum(len(f.image_ids) for f in files) for files in maps.values()}
    figure.suptitle(
        f"{analyzer}: best (left) and worst (right) predicted of the "
        f"{'/'.join(map(str, sorted(explained)))} explained test images per model",
        fontsize=9,
    )
    figure.tight_layout()
    save(figure, path)
    return figure


def plot_perturbation_curves(curves: pd.DataFrame, path: str) -> plt.Figure:
    """Paper Fig. 4: mean error vs perturbation step per analyzer (MoRF), a panel per model.

    The random order (the same rankings for every analyzer, by design) is drawn
    as a band: its mean +- the standard error over images.
    """
    models = list(dict.fromkeys(curves["model"]))
    figure, axes = plt.subplots(1, len(models), figsize=(6 * len(models), 4.2), squeeze=False)
    for axis, model in zip(axes[0], models, strict=True):
        rows = curves[curves["model"] == model]
        random = rows[rows["order"] == "random"]
        if len(random):
            random = random[random["analyzer"] == random["analyzer"].iloc[0]].set_index("step")
            sem = random["error_sd"].fillna(0) / np.sqrt(random["n_images"])
            axis.fill_between(
                random.index,
                random["error_mean"] - sem,
                random["error_mean"] + sem,
                color="gray",
                alpha=0.3,
                label="random order (±SE over images)",
            )
        for analyzer, group in rows[rows["order"] == "morf"].groupby("analyzer", sort=False):
            axis.plot(
                group["step"],
                group["error_mean"],
                marker="o",
                markersize=3,
                linestyle="--" if analyzer == "random" else "-",
                label=analyzer,
            )
        axis.set(
            xlabel="perturbation step",
            ylabel="mean absolute error (px)",
            title=f"Reg-{model}: MoRF perturbation",
        )
        axis.legend(fontsize=7)
    figure.tight_layout()
    save(figure, path)
    return figure


def plot_perturbation_process(
    steps: np.ndarray, perturbed_masks: np.ndarray, errors: list[float], title: str, path: str
) -> plt.Figure:
    """Paper Fig. 3: the input at steps 0..K, perturbed regions outlined in red."""
    n = len(steps)
    columns = min(n, 8)
    rows = -(-n // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 2.1 * rows), squeeze=False)
    for k, axis in enumerate(axes.flat):
        axis.axis("off")
        if k >= n:
            continue
        axis.imshow(steps[k], cmap="gray")
        axis.contour(perturbed_masks[k], levels=[0.5], colors="red", linewidths=0.8)
        axis.set_title(f"step {k}\nerr {errors[k]:.0f} px", fontsize=7)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    save(figure, path)
    return figure


def _mean_and_ci_error(table: pd.DataFrame, metric: str = "") -> tuple[np.ndarray, np.ndarray]:
    """`metric`_mean (`mean` without a metric) and its CI as matplotlib's (2, n) `yerr`; a
    missing bound draws no bar."""
    prefix = f"{metric}_" if metric else ""
    mean = table[f"{prefix}mean"].to_numpy(dtype=float)
    low, high = table[f"{prefix}ci_low"], table[f"{prefix}ci_high"]
    return mean, np.clip(np.nan_to_num(np.stack([mean - low, high - mean])), 0, None)


def plot_localization(summary: pd.DataFrame, path: str) -> plt.Figure:
    """Skull focus (top) and rank accuracy (bottom) per analyzer, a column per model.

    Bars are means over images with their bootstrap CIs (`results/localization.csv`).
    Chance lines: 1 for skull focus; for rank accuracy the mean band share, what
    a map unrelated to the image scores. A second line: the edge detector's mean
    (a Sobel map of the input, no model), what a map that only follows the image's
    edges scores. A black tick per analyzer: the skull focus of its maps of the fully
    randomised network (the sanity check's images), what the architecture and the input
    give without training. Analyzers in the paper's order, the random map in gray beside
    them.
    """

    order = {name: k for k, name in enumerate(PAPER_ORDER)}
    models = list(dict.fromkeys(summary["model"]))
    rows = (("skull_focus", "skull focus (1 = chance)"), ("rank_accuracy", "rank accuracy"))
    figure, axes = plt.subplots(
        len(rows), len(models), figsize=(5 * len(models), 6.5), squeeze=False
    )
    for column, model in enumerate(models):
        frame = summary[summary["model"] == model]
        frame = frame.sort_values("analyzer", key=lambda s: s.map(order).fillna(len(order)))
        positions = np.arange(len(frame))
        colors = ["tab:gray" if a == "random" else "tab:blue" for a in frame["analyzer"]]
        for axis, (metric, label) in zip(axes[:, column], rows, strict=True):
            mean, error = _mean_and_ci_error(frame, metric)
            axis.bar(positions, mean, yerr=error, color=colors, capsize=3)
            chance = 1.0 if metric == "skull_focus" else float(frame["band_share_mean"].mean())
            axis.axhline(chance, color="tab:red", linestyle="--", linewidth=1, label="chance")
            edge = float(frame[f"edge_{metric}_mean"].mean())
            axis.axhline(edge, color="tab:green", linestyle=":", label="edge detector (no model)")
            if metric == "skull_focus":
                randomised = frame["randomised_skull_focus_mean"].to_numpy(dtype=float)
                axis.scatter(
                    positions, randomised, marker="_", s=250, color="black", zorder=3,
                    label="fully randomised model",
                )  # fmt: skip
            axis.set_xticks(positions, frame["analyzer"], rotation=45, ha="right", fontsize=7)
            axis.set(ylabel=label, title=f"Reg-{model}: {label}")
            axis.legend(fontsize=7)
    figure.tight_layout()
    save(figure, path)
    return figure


def plot_faithfulness_ranks(table: pd.DataFrame, agreement: pd.DataFrame, path: str) -> plt.Figure:
    """Each analyzer's rank by MoRF AOPC (1 = best) under each imputation x measure, a panel
    per model, with Kendall's W of the columns and its CI (results/faithfulness*.csv).

    A row of one colour is an analyzer whose standing does not depend on how regions are
    removed; a bold rank beats the random order there (Holm-adjusted).
    """
    models = list(dict.fromkeys(table["model"]))
    order = {name: k for k, name in enumerate(PAPER_ORDER)}
    figure, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 4.4), squeeze=False)
    for axis, model in zip(axes[0], models, strict=True):
        frame = table[table["model"] == model].assign(
            condition=lambda f: f["imputation"] + "\n" + f["measure"].str.replace("_px", "")
        )
        ranks = frame.pivot(index="analyzer", columns="condition", values="rank")
        beats = frame.pivot(index="analyzer", columns="condition", values="beats_random")
        columns = list(dict.fromkeys(frame["condition"]))
        rows = sorted(ranks.index, key=lambda a: order.get(a, len(order)))
        ranks, beats = ranks.loc[rows, columns], beats.loc[rows, columns]
        image = axis.imshow(ranks.to_numpy(), cmap="viridis_r", vmin=1, vmax=len(rows))
        for (i, j), rank in np.ndenumerate(ranks.to_numpy()):
            bold = bool(beats.to_numpy()[i, j])
            axis.text(
                j,
                i,
                f"{rank:g}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if rank < (len(rows) + 1) / 2 else "black",
                fontweight="bold" if bold else "normal",
            )
        axis.set_xticks(range(len(columns)), columns, fontsize=7)
        axis.set_yticks(range(len(rows)), rows, fontsize=7)
        w = agreement[agreement["model"] == model].iloc[0]
        axis.set_title(
            f"Reg-{model}: Kendall's W {w['kendall_w']:.2f} "
            f"[{w['kendall_w_ci_low']:.2f}, {w['kendall_w_ci_high']:.2f}]",
            fontsize=9,
        )
    figure.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="rank by MoRF AOPC (1 = best)")
    figure.suptitle(
        "Analyzer ranks under each imputation x measure (bold: beats the random order, Holm)",
        fontsize=9,
    )
    save(figure, path)
    return figure


def plot_critical_difference(
    ranks: dict[str, pd.Series],
    p_values: dict[str, pd.DataFrame],
    alpha: float,
    test: str,
    path: str,
) -> plt.Figure:
    """Critical-difference diagrams (Demšar 2006), a panel per model.

    `ranks[model]` holds each analyzer's mean rank (1 = best); a bar joins analyzers
    whose `p_values[model]` (a square analyzer x analyzer matrix from `test`) are not
    below `alpha`, i.e. that the test cannot tell apart.
    """
    import scikit_posthocs  # brings seaborn (~1.7 s): only this figure needs it

    heights = [0.3 * len(r) + 1.6 for r in ranks.values()]
    figure, axes = plt.subplots(
        len(ranks), 1, figsize=(8, sum(heights)), squeeze=False, height_ratios=heights
    )
    for axis, (model, rank) in zip(axes[:, 0], ranks.items(), strict=True):
        scikit_posthocs.critical_difference_diagram(
            rank,
            p_values[model],
            alpha=alpha,
            ax=axis,
            label_fmt_left="{label} ({rank:.2f})",
            label_fmt_right="({rank:.2f}) {label}",
            label_props={"fontsize": 8},
        )
        axis.set_title(f"Reg-{model}", loc="left", fontsize=9, pad=18)
    figure.suptitle(
        f"Mean rank of the per-image AOPC (1 = lowest = best); bars join analyzers\n"
        f"not different by {test} at alpha = {alpha:g}",
        fontsize=9,
    )
    figure.tight_layout()
    save(figure, path)
    return figure


def _verdicts(summary: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(model, analyzer) -> passes / fails / undetermined, from results/sanity.csv."""
    rows = summary[["model", "analyzer", "verdict"]].drop_duplicates()
    return {(b, a): verdict for b, a, verdict in rows.itertuples(index=False)}


def _sanity_map_rows(
    figure: plt.Figure,
    grid: Any,
    maps: dict[tuple[str, str], np.ndarray],
    images: dict[str, np.ndarray],
    summary: pd.DataFrame,
    verdicts: dict[tuple[str, str], str],
) -> None:
    """A row per model x analyzer: the input, then |map| at every stage on its own scale."""
    pairs = list(maps)
    for row, (model, analyzer) in enumerate(pairs):
        stages = summary[(summary["model"] == model) & (summary["analyzer"] == analyzer)]
        down_to = dict(zip(stages["stage"], stages["down_to"].fillna(""), strict=True))
        first_of_model = row == 0 or pairs[row - 1][0] != model
        axis = figure.add_subplot(grid[row, 0])
        axis.imshow(images[model], cmap="gray")
        found = verdicts.get((model, analyzer), "passes")
        label = "" if found == "passes" else f"\n{found.upper()}"
        axis.set_ylabel(f"{model}\n{analyzer}{label}", fontsize=6)
        axis.set_xticks([])
        axis.set_yticks([])
        if first_of_model:
            axis.set_title(f"Reg-{model}\ninput", fontsize=6)
        for stage, saliency in enumerate(maps[(model, analyzer)]):
            axis_map = figure.add_subplot(grid[row, stage + 1])
            magnitude = np.abs(saliency)
            limit = float(np.percentile(magnitude, 99.5)) or 1.0
            axis_map.imshow(magnitude, cmap="gray", vmin=0, vmax=limit)
            axis_map.set_xticks([])
            axis_map.set_yticks([])
            if first_of_model:
                reset = "trained" if stage == 0 else f"to {down_to.get(stage, stage)}"
                axis_map.set_title(f"stage {stage}\n{reset}", fontsize=5)


def _sanity_curves(
    axis: plt.Axes, rows: pd.DataFrame, metric: str, verdicts: dict[tuple[str, str], str]
) -> None:
    """Mean similarity to the trained maps per stage with its CI, a line per analyzer; on
    Spearman |map| also each method's floor (its trained maps of different images), dotted,
    and a star for the model trained on shuffled labels (data randomisation)."""
    for analyzer, group in rows.groupby("analyzer", sort=False):
        mean = group[f"{metric}_mean"].to_numpy(dtype=float)
        low, high = group[f"{metric}_ci_low"], group[f"{metric}_ci_high"]
        spread = np.vstack([mean - low, high - mean])
        model = group["model"].iloc[0]
        axis.errorbar(
            group["stage"],
            mean,
            yerr=np.nan_to_num(np.abs(spread)),
            marker="o",
            markersize=3,
            capsize=2,
            linewidth=1,
            linestyle="--" if verdicts.get((model, analyzer)) == "fails" else "-",
            label=analyzer,
        )
        if metric == "spearman_abs":
            colour = axis.containers[-1].lines[0].get_color()
            axis.axhline(group["floor_mean"].iloc[0], color=colour, linestyle=":", linewidth=1)
            first = group.iloc[0]  # the permuted-label model: one value per file
            permuted = first["permuted_spearman_abs_mean"]
            axis.errorbar(
                [rows["stage"].max() + 1],
                [permuted],
                yerr=np.nan_to_num(
                    np.abs(
                        [
                            [permuted - first["permuted_spearman_abs_ci_low"]],
                            [first["permuted_spearman_abs_ci_high"] - permuted],
                        ]
                    )
                ),
                marker="*",
                markersize=7,
                capsize=2,
                color=colour,
                # Hollow: its maps stay above the floor (fails the data-randomisation test).
                markerfacecolor="none"
                if first["data_randomisation_verdict"] == "fails"
                else colour,
            )
    axis.set_ylim(-1.05, 1.05)
    stages = sorted(set(rows["stage"]))
    if metric == "spearman_abs":  # + the data-randomisation column
        axis.set_xticks([*stages, stages[-1] + 1], [*map(str, stages), "labels\nshuffled"])
    else:
        axis.set_xticks(stages)
    axis.set_xlabel("stage (0 = trained)", fontsize=7)
    axis.set_ylabel("similarity to stage 0", fontsize=7)
    axis.tick_params(labelsize=6)


def plot_sanity(
    maps: dict[tuple[str, str], np.ndarray],
    images: dict[str, np.ndarray],
    summary: pd.DataFrame,
    metrics: dict[str, str],
    path: str,
) -> plt.Figure:
    """Cascading model randomisation (Adebayo et al. 2018, their Fig. 2 and 4).

    Top (`_sanity_map_rows`): `maps[(model, analyzer)]`, (S + 1, s, s) of one
    image, beside `images[model]`. Bottom (`_sanity_curves`): per model and
    metric (`metrics`: column prefix -> label in `summary`, results/sanity.csv);
    dashed = fails the check (Spearman |map| above the method's floor, its dotted line);
    a star per analyzer for the permuted-label model, hollow when it fails.
    """
    pairs = list(maps)
    models = list(dict.fromkeys(b for b, _ in pairs))
    columns = max(m.shape[0] for m in maps.values()) + 1
    map_height, curve_height = 1.3 * len(pairs), 2.8 * len(models)
    height = map_height + curve_height + 1.3  # + the title and the legend
    figure = plt.figure(figsize=(max(1.5 * columns, 3.0 * len(metrics)), height))
    outer = figure.add_gridspec(
        2,
        1,
        height_ratios=[map_height, curve_height],
        hspace=0.3 / len(pairs),
        top=1 - 0.9 / height,
        bottom=0.7 / height,
    )
    verdicts = _verdicts(summary)
    _sanity_map_rows(
        figure,
        outer[0].subgridspec(len(pairs), columns, wspace=0.05, hspace=0.3),
        maps,
        images,
        summary,
        verdicts,
    )
    curves = outer[1].subgridspec(len(models), len(metrics), wspace=0.3, hspace=0.5)
    for i, model in enumerate(models):
        for j, (metric, label) in enumerate(metrics.items()):
            axis = figure.add_subplot(curves[i, j])
            _sanity_curves(axis, summary[summary["model"] == model], metric, verdicts)
            axis.set_title(f"Reg-{model}: {label}", fontsize=7)
    handles, labels = figure.axes[-1].get_legend_handles_labels()
    figure.legend(
        handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=5, fontsize=7
    )
    figure.suptitle(
        "Model and data randomisation (Adebayo et al. 2018): |map| of the first image per\n"
        "stage; similarity to the trained network's maps (mean and CI over images); stars:\n"
        "the model trained on shuffled labels (hollow: above the floor, fails)",
        fontsize=8,
        y=0.995,
    )
    save(figure, path)
    return figure


def draw_meta_explanation(
    table: pd.DataFrame, cluster_maps: np.ndarray, eigenvalues: np.ndarray, path: str
) -> None:
    """`plot_meta_explanation` saved to `path` (what the SpRAy job hands its evaluation)."""
    save(plot_meta_explanation(table, cluster_maps, eigenvalues), path)


def plot_meta_explanation(
    table: pd.DataFrame, cluster_maps: np.ndarray, eigenvalues: np.ndarray
) -> plt.Figure:
    """SpRAy of one model x analyzer: the smallest Laplacian eigenvalues with the eigengap
    that set the cluster count (so a marginal gap is visible), t-SNE of the maps by cluster
    and by |error|, then each cluster's mean |map| (hcxai.evaluate.meta.spray)."""
    k = len(cluster_maps)
    figure, axes = plt.subplots(1, 3 + k, figsize=(3 + 4 * 2 + 2.2 * k, 3.6), squeeze=False)
    spectrum, by_cluster, by_error, *means = axes[0]
    ranks = np.arange(1, len(eigenvalues) + 1)
    spectrum.plot(ranks, eigenvalues, "o-", color="C0")
    spectrum.axvline(k + 0.5, color="C3", linestyle="--", label=f"eigengap: {k} cluster(s)")
    spectrum.legend(fontsize=7)
    spectrum.set(title="Laplacian spectrum", xlabel="eigenvalue rank", xticks=ranks)
    for cluster, rows in table.groupby("cluster"):
        by_cluster.scatter(rows["tsne_x"], rows["tsne_y"], s=14, label=f"cluster {cluster}")
    by_cluster.legend(fontsize=7)
    by_cluster.set(title="t-SNE of the maps, by cluster", xticks=[], yticks=[])
    points = by_error.scatter(
        table["tsne_x"], table["tsne_y"], c=table["abs_error_px"], s=14, cmap="viridis"
    )
    figure.colorbar(points, ax=by_error, label="|predicted - true HC| (px)")
    by_error.set(title="by absolute error", xticks=[], yticks=[])
    for cluster, (axis, mean_map) in enumerate(zip(means, cluster_maps, strict=True)):
        rows = table[table["cluster"] == cluster]
        axis.imshow(mean_map, cmap="hot", vmin=0, vmax=1)
        axis.set(
            title=f"cluster {cluster}: n={len(rows)}\n"
            f"mean |error| {rows['abs_error_px'].mean():.0f} px",
            xticks=[],
            yticks=[],
        )
    first = table.iloc[0]
    figure.suptitle(
        f"Meta-explanation (SpRAy): {first.analyzer} on Reg-{first.backbone}/{first.loss}"
    )
    return figure


def _grouped_bars(axis: plt.Axes, table: pd.DataFrame, metric: str, losses: list[str]) -> None:
    """Bars of `metric`_mean with its CI per analyzer (paper order), one colour per loss."""
    analyzers = [a for a in PAPER_ORDER if a in set(table["analyzer"])]
    width = 0.8 / len(losses)
    for k, loss in enumerate(losses):
        rows = table[table["loss"] == loss].set_index("analyzer").reindex(analyzers)
        mean, error = _mean_and_ci_error(rows, metric)
        positions = np.arange(len(analyzers)) + (k - (len(losses) - 1) / 2) * width
        axis.bar(positions, mean, width, yerr=error, capsize=2, label=loss, color=f"C{k}")
    axis.set_xticks(np.arange(len(analyzers)), analyzers, rotation=45, ha="right", fontsize=7)


def plot_loss_comparison(
    aopc_stats: pd.DataFrame, localization: pd.DataFrame, mae: pd.DataFrame, path: str
) -> plt.Figure:
    """Does the training loss change what can be explained? (the paper's section 4)

    A column per backbone, a colour per loss. Top: MoRF AOPC per analyzer with
    its bootstrap CI (aopc_stats.csv's MoRF rows; lower is better).
    Middle: skull focus (localization.csv; 1 = chance). Bottom: each loss's
    test MAE over all folds (mae_table.csv), beside the mean-HC baseline.
    """
    aopc = aopc_stats[aopc_stats["order"] == "morf"]
    backbones = list(dict.fromkeys(aopc["backbone"]))
    losses = list(dict.fromkeys(aopc["loss"]))
    width = max(6.0, 1.2 + 0.3 * aopc["analyzer"].nunique() * len(losses))  # per column
    size = (width * len(backbones), 10)
    figure, axes = plt.subplots(3, len(backbones), figsize=size, squeeze=False)
    for column, backbone in enumerate(backbones):
        top, middle, bottom = axes[:, column]
        _grouped_bars(top, aopc[aopc["backbone"] == backbone], "aopc", losses)
        top.axhline(0, color="black", linewidth=0.5)
        top.set(ylabel="MoRF AOPC (px, lower is better)", title=f"Reg-{backbone}: faithfulness")
        focus = localization[localization["backbone"] == backbone]
        _grouped_bars(middle, focus, "skull_focus", losses)
        middle.axhline(1, color="tab:red", linestyle="--", linewidth=1)
        middle.set(ylabel="skull focus (1 = chance)", title=f"Reg-{backbone}: localization")
        rows = mae[(mae["backbone"] == backbone) & (mae["fold"] == "all")]
        rows = rows.set_index("loss").reindex(losses)
        colours = [f"C{k}" for k in range(len(losses))]
        error = np.nan_to_num(rows["sd_px"])
        bottom.bar(losses, rows["mae_px"], yerr=error, capsize=3, color=colours)
        baseline = float(rows["baseline_mae_px"].mean())
        bottom.axhline(
            baseline, color="tab:gray", linestyle="--", linewidth=1, label="mean-HC baseline"
        )
        bottom.set(ylabel="test MAE ± SD (px)", title=f"Reg-{backbone}: prediction error")
        bottom.legend(fontsize=7)
        top.legend(title="loss", fontsize=7)
    figure.tight_layout()
    save(figure, path)
    return figure


def plot_map_metrics(summary: pd.DataFrame, path: str) -> plt.Figure:
    """Each registered map metric (a row of panels) per analyzer, a column per model.

    Bars are means over images with their bootstrap CIs (`results/map_metrics.csv`); the
    random map in gray beside the methods, and the edge detector's mean (a Sobel map of
    the input, no model) as a line: the two baselines every claim is tested against. A
    star marks an analyzer significantly better than both (Holm-adjusted); the panel's
    title says which way is better.
    """
    order = {name: k for k, name in enumerate(PAPER_ORDER)}
    models = list(dict.fromkeys(summary["model"]))
    metrics = list(dict.fromkeys(summary["metric"]))
    figure, axes = plt.subplots(
        len(metrics), len(models), figsize=(4.6 * len(models), 3.2 * len(metrics)), squeeze=False
    )
    for row, metric in enumerate(metrics):
        for column, model in enumerate(models):
            axis = axes[row, column]
            frame = summary[(summary["model"] == model) & (summary["metric"] == metric)]
            edge = frame[frame["analyzer"] == "edge"]
            frame = frame[frame["analyzer"] != "edge"].sort_values(
                "analyzer", key=lambda s: s.map(order).fillna(len(order))
            )
            positions = np.arange(len(frame))
            mean, error = _mean_and_ci_error(frame)
            colors = ["tab:gray" if a == "random" else "tab:blue" for a in frame["analyzer"]]
            axis.bar(positions, mean, yerr=error, color=colors, capsize=3)
            axis.axhline(
                float(edge["mean"].iloc[0]), color="tab:green", linestyle=":",
                label="edge detector (no model)",
            )  # fmt: skip
            better = (frame["better_than_edge"] & frame["better_than_random"]).to_numpy(bool)
            top = np.nan_to_num(mean + error[1], nan=0.0)
            axis.scatter(positions[better], top[better] * 1.05, marker="*", color="black", s=40)
            axis.set_xticks(positions, frame["analyzer"], rotation=45, ha="right", fontsize=7)
            better_side = str(frame["better"].iloc[0])
            axis.set(ylabel=metric, title=f"Reg-{model}: {metric} ({better_side} is better)")
            axis.legend(fontsize=7)
    figure.tight_layout()
    save(figure, path)
    return figure
