"""Figures a paper could use: agreement plots, saliency grids, perturbation curves.

Matplotlib only (no TensorFlow): figures are drawn in the workflow env from
the CSV and HDF5 files the other steps wrote.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd

from hcxai.io import atomic_output

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
