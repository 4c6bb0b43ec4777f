"""One scorecard: every view of an analyzer side by side, with pass/fail flags.

Per model (backbone x loss) x analyzer (`results/scorecard.csv`):

* faithfulness: MoRF AOPC with its CI, the paired difference to the random
  order with its CI, its Wilcoxon p and Holm's adjustment over the model's
  analyzers, and `beats_random` when the adjusted p < `statistics.alpha` and the
  difference is negative (the analyzer's ranking hurts the model significantly
  more than random regions, after testing ~9 analyzers at once; the raw CI is
  kept beside it); MoRF minus LeRF AOPC where LeRF was computed;
* localization: skull focus with its CI (1 = a map that ignores the image), the
  edge detector's (a Sobel map of the input, no model) and the paired difference
  to it with its CI, and `beats_edge_detector` when that CI lies wholly above 0;
* faithfulness across imputations: `faithful_across_imputations` when the analyzer
  beats the random order (Wilcoxon, Holm-adjusted over the model's analyzers) under
  every scored imputation x measure, and in how many of them it does
  (hcxai.faithfulness);
* sanity: the rank correlation of |map| with the trained map after full
  randomisation, with its CI, the method's floor (its trained maps of different
  images), the excess over the floor with its CI and the images it rests on, the
  verdict (passes / fails / undetermined) and `survives_randomisation` for a
  pass (hcxai.sanity_metrics).

`results/ranking_agreement.csv`: per model and imputation x measure, Kendall's tau
(scipy.stats) between the analyzers ranked by MoRF AOPC (lower better) and by skull
focus (higher better): do the two views agree on which method to trust, whichever
way regions are removed? pandas/scipy only.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from hcxai.analyzers import PAPER_ORDER
from hcxai.faithfulness import CONDITION
from hcxai.faithfulness import TABLE as FAITHFULNESS
from hcxai.io import InputError, atomic_output, damaged_file, read_table
from hcxai.localization import SUMMARY as LOCALIZATION
from hcxai.models import MODEL_KEYS, models_of, of_model
from hcxai.stats import STATS_TABLE, beats_random

log = logging.getLogger(__name__)

KEYS = [*MODEL_KEYS, "analyzer"]


def _faithfulness(aopc_stats: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """MoRF AOPC, its difference to the random order, and MoRF - LeRF, per model x analyzer."""
    by_order = aopc_stats.set_index([*KEYS, "order"])
    if "morf" not in by_order.index.get_level_values("order"):
        raise InputError("aopc_stats.csv has no MoRF rows; add morf to perturbation.orders")
    morf = by_order.xs("morf", level="order")
    card = pd.DataFrame(
        {
            "aopc_morf": morf["aopc_mean"],
            "aopc_morf_ci_low": morf["aopc_ci_low"],
            "aopc_morf_ci_high": morf["aopc_ci_high"],
            "aopc_minus_random": morf["aopc_minus_random"],
            "aopc_minus_random_ci_low": morf["aopc_minus_random_ci_low"],
            "aopc_minus_random_ci_high": morf["aopc_minus_random_ci_high"],
            "p_vs_random": morf["p_vs_random"],
            "p_vs_random_holm": morf["p_vs_random_holm"],
        }
    )
    lerf = (
        by_order.xs("lerf", level="order")["aopc_mean"]
        if "lerf" in by_order.index.get_level_values("order")
        else pd.Series(np.nan, index=morf.index)
    )
    card["morf_minus_lerf"] = morf["aopc_mean"] - lerf.reindex(morf.index)
    card["beats_random"] = beats_random(card["p_vs_random_holm"], card["aopc_minus_random"], alpha)
    return card


def _localization(localization: pd.DataFrame) -> pd.DataFrame:
    """Skull focus, the edge detector's, and the paired difference to it, with CIs."""
    columns = ["skull_focus", "edge_skull_focus", "skull_focus_minus_edge"]
    columns = [f"{c}_{part}" for c in columns for part in ("mean", "ci_low", "ci_high")]
    card = localization.set_index(KEYS)[columns].rename(columns=lambda c: c.replace("_mean", ""))
    # A map that follows the input's edges scores well above 1 without a model.
    card["beats_edge_detector"] = card["skull_focus_minus_edge_ci_low"] > 0
    return card


def _across_imputations(faithfulness: pd.DataFrame) -> pd.DataFrame:
    """Beats random under every imputation x measure, and under how many of them."""
    beats = faithfulness.groupby(KEYS, sort=False)["beats_random"]
    return pd.DataFrame(
        {
            "conditions_beating_random": beats.sum().astype(int),
            "conditions_scored": beats.size(),
            "faithful_across_imputations": beats.all(),
        }
    )


def _sanity(sanity: pd.DataFrame) -> pd.DataFrame:
    """The fully randomised stage of each model x analyzer."""
    sanity = sanity.reset_index(drop=True)  # idxmax labels must be unique
    last = sanity.loc[sanity.groupby(KEYS)["stage"].idxmax()].set_index(KEYS)
    return pd.DataFrame(
        {
            "randomised_spearman_abs": last["spearman_abs_mean"],
            "randomised_spearman_abs_ci_low": last["spearman_abs_ci_low"],
            "randomised_spearman_abs_ci_high": last["spearman_abs_ci_high"],
            "randomisation_floor": last["floor_mean"],
            "randomisation_excess": last["excess_mean"],
            "randomisation_excess_ci_low": last["excess_ci_low"],
            "randomisation_excess_ci_high": last["excess_ci_high"],
            "randomisation_n": last["excess_n"],
            "randomisation_verdict": last["verdict"],
            # Only a determined pass counts: mostly blank randomised maps say nothing.
            "survives_randomisation": last["verdict"] == "passes",
        }
    )


def scorecard(
    aopc_stats: pd.DataFrame,
    localization: pd.DataFrame,
    sanity: pd.DataFrame,
    faithfulness: pd.DataFrame,
    *,
    alpha: float,
) -> pd.DataFrame:
    """The views joined per model x analyzer: models as in aopc_stats.csv, analyzers
    in the paper's order; `alpha` the level of the Holm-adjusted test against random."""
    card = (
        _faithfulness(aopc_stats, alpha)
        .join(_across_imputations(faithfulness))
        .join(_localization(localization))
        .join(_sanity(sanity))
    )
    card = card.reset_index()
    first_seen = {key: list(dict.fromkeys(aopc_stats[key])) for key in MODEL_KEYS}
    first_seen["analyzer"] = PAPER_ORDER
    return card.sort_values(KEYS, key=lambda c: c.map(first_seen[c.name].index), ignore_index=True)


def ranking_agreement(card: pd.DataFrame) -> pd.DataFrame:
    """Per model: Kendall's tau of the AOPC ranking (lower better) and the skull-focus one."""
    rows = []
    for model in models_of(card):
        group = of_model(card, model)
        both = group.dropna(subset=["aopc_morf", "skull_focus"])
        # tau of AOPC with -skull focus: +1 when the best by AOPC is the most focused.
        tau, p = (
            scipy_stats.kendalltau(both["aopc_morf"], -both["skull_focus"])
            if len(both) >= 3
            else (np.nan, np.nan)
        )
        rows.append({**model, "n_analyzers": len(both), "kendall_tau": tau, "p": p})
    return pd.DataFrame(rows)


def ranking_agreement_by_imputation(card: pd.DataFrame, faithfulness: pd.DataFrame) -> pd.DataFrame:
    """`ranking_agreement` with each imputation x measure's MoRF AOPC in turn (Table 1's
    first): does AOPC's disagreement or agreement with skull focus survive the imputation?"""
    frames = []
    for condition, rows in faithfulness.groupby(CONDITION, sort=False):
        aopc = rows.set_index(KEYS)["aopc_morf"]
        scored = card.assign(aopc_morf=aopc.reindex(card.set_index(KEYS).index).to_numpy())
        frames.append(
            ranking_agreement(scored).assign(**dict(zip(CONDITION, condition, strict=True)))
        )
    agreement = pd.concat(frames, ignore_index=True)
    return agreement[[*MODEL_KEYS, *CONDITION, "n_analyzers", "kendall_tau", "p"]]


def read_summaries(
    stats_path: str, localization_path: str, sanity_path: str, faithfulness_path: str
) -> list[pd.DataFrame]:
    """aopc_stats.csv, localization.csv, sanity.csv and faithfulness.csv, checked: the same
    model x analyzer pairs in all (else a join would hide a gap as NaN)."""
    from hcxai.sanity_metrics import SUMMARY_TABLE  # scikit-image: only here

    stats = read_table(stats_path, STATS_TABLE, rule="aopc_statistics", unique=[*KEYS, "order"])
    expected = set(stats[KEYS].itertuples(index=False, name=None))
    frames = [stats]
    for path, columns, rule, unique in (
        (localization_path, LOCALIZATION, "localization_summary", KEYS),
        (sanity_path, SUMMARY_TABLE, "sanity_summary", [*KEYS, "stage"]),
        (faithfulness_path, FAITHFULNESS, "faithfulness", [*KEYS, *CONDITION]),
    ):
        frame = read_table(path, columns, rule=rule, unique=unique)
        found = set(frame[KEYS].itertuples(index=False, name=None))
        if found != expected:
            odd = sorted(found ^ expected)[:3]
            what = f"covers other model x analyzer pairs than {stats_path} (e.g. {odd})"
            raise damaged_file(path, what, rule)
        frames.append(frame)
    return frames


def write_scorecard(
    stats_path: str,
    localization_path: str,
    sanity_path: str,
    faithfulness_path: str,
    card_path: str,
    agreement_path: str,
    *,
    alpha: float,
) -> None:
    """results/scorecard.csv and results/ranking_agreement.csv from the four summaries."""
    summaries = read_summaries(stats_path, localization_path, sanity_path, faithfulness_path)
    card = scorecard(*summaries, alpha=alpha)
    agreement = ranking_agreement_by_imputation(card, summaries[-1])
    for frame, path in ((card, card_path), (agreement, agreement_path)):
        with atomic_output(path) as tmp:
            frame.to_csv(tmp, index=False, float_format="%.6g")
    shown = [*KEYS, "aopc_morf", "beats_random", "faithful_across_imputations", "skull_focus"]
    shown += ["beats_edge_detector", "survives_randomisation"]
    log.info("scorecard:\n%s", card[shown].to_string(index=False))
    log.info("ranking agreement (Kendall's tau):\n%s", agreement.to_string(index=False))
