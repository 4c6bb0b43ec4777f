"""Figures a paper could use: agreement plots, saliency grids, perturbation curves.

Matplotlib only (no TensorFlow): figures are drawn in the workflow env from
the CSV and HDF5 files the other steps wrote.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hcxai.io import atomic_output
from hcxai.saliency import SaliencyFile

DPI = 150


def save(figure: plt.Figure, path: str) -> None:
    """Write a figure atomically and free it."""
    with atomic_output(path) as tmp:
        figure.savefig(tmp, dpi=DPI, bbox_inches="tight")
    plt.close(figure)


def plot_hc_agreement(test: pd.DataFrame, table: pd.DataFrame, path: str) -> None:
    """Per backbone: predicted vs true HC, and the Bland-Altman plot, over all test images."""
    backbones = list(dict.fromkeys(test["backbone"]))
    figure, axes = plt.subplots(len(backbones), 2, figsize=(9, 4 * len(backbones)), squeeze=False)
    for (scatter, agreement), backbone in zip(axes, backbones, strict=True):
        rows = test[test["backbone"] == backbone]
        summary = table[(table["backbone"] == backbone) & (table["fold"] == "all")].iloc[0]
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
            title=f"Reg-{backbone}: MAE {summary.mae_px:.1f} ± {summary.sd_px:.1f} px "
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
            title=f"Reg-{backbone}: Bland-Altman",
        )
        agreement.legend(fontsize=8)
    figure.tight_layout()
    save(figure, path)


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
) -> None:
    """Paper Fig. 2: a row per backbone and image, a column per analyzer.

    `maps[(backbone, analyzer)]` holds one fold's maps; each panel gives the
    predicted (P) and true (T) HC in px.
    """
    backbones = list(dict.fromkeys(b for b, _ in maps))
    analyzers = list(dict.fromkeys(a for _, a in maps))
    rows = [(b, i) for i in image_ids for b in backbones]
    figure, axes = plt.subplots(
        len(rows),
        len(analyzers) + 1,
        figsize=(1.6 * (len(analyzers) + 1), 1.8 * len(rows)),
        squeeze=False,
    )
    for row_axes, (backbone, image_id) in zip(axes, rows, strict=True):
        first = maps[(backbone, analyzers[0])]
        k = first.image_ids.index(image_id)
        row_axes[0].imshow(images[image_id], cmap="gray")
        row_axes[0].set_title(f"Reg-{backbone}\n{image_id}", fontsize=7)
        row_axes[0].axis("off")
        for axis, analyzer in zip(row_axes[1:], analyzers, strict=True):
            found = maps[(backbone, analyzer)]
            _overlay(
                axis,
                images[image_id],
                found.maps[k],
                f"{analyzer}\nP {found.hc_pred_px[k]:.0f} T {found.hc_true_px[k]:.0f}",
            )
    figure.tight_layout()
    save(figure, path)


def plot_best_worst(
    maps: dict[str, list[SaliencyFile]],
    images: dict[str, np.ndarray],
    analyzer: str,
    path: str,
    n: int = 3,
) -> None:
    """Paper Fig. 5: one analyzer's maps of the n best and n worst predicted test images."""
    figure, axes = plt.subplots(
        len(maps), 2 * n, figsize=(2.0 * 2 * n, 2.6 * len(maps)), squeeze=False
    )
    for row_axes, (backbone, files) in zip(axes, maps.items(), strict=True):
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
                f"Reg-{backbone} {label}: |err| {error:.0f} px\n"
                f"P {found.hc_pred_px[k]:.0f} T {found.hc_true_px[k]:.0f}",
            )
    explained = {sum(len(f.image_ids) for f in files) for files in maps.values()}
    figure.suptitle(
        f"{analyzer}: best (left) and worst (right) predicted of the "
        f"{'/'.join(map(str, sorted(explained)))} explained test images per backbone",
        fontsize=9,
    )
    figure.tight_layout()
    save(figure, path)


def plot_perturbation_curves(curves: pd.DataFrame, path: str) -> None:
    """Paper Fig. 4: mean error vs perturbation step per analyzer (MoRF), a panel per backbone.

    The random order (the same rankings for every analyzer, by design) is drawn
    as a band: its mean +- the standard error over images.
    """
    backbones = list(dict.fromkeys(curves["backbone"]))
    figure, axes = plt.subplots(1, len(backbones), figsize=(6 * len(backbones), 4.2), squeeze=False)
    for axis, backbone in zip(axes[0], backbones, strict=True):
        rows = curves[curves["backbone"] == backbone]
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
            title=f"Reg-{backbone}: MoRF perturbation",
        )
        axis.legend(fontsize=7)
    figure.tight_layout()
    save(figure, path)


def plot_perturbation_process(
    steps: np.ndarray, perturbed_masks: np.ndarray, errors: list[float], title: str, path: str
) -> None:
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
