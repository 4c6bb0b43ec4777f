"""The metric registry: every per-image metric of a map, declared once.

An entry says all that the workflow, the summary, the scorecard and the report need:
its name (the `{metric}` wildcard and the table's `metric` value), its category (the
`hcxai.evaluate` sub-package that holds it), the per-image function (pure NumPy), which
way is better, and which maps it reads (`source`: the saliency cache, or the robustness
maps of perturbed inputs). Every metric is compared with the same two baselines: a
model-free edge detector (the Sobel map of the input) and the `random` analyzer; a claim
that a method is sparse or robust needs to beat both.

Adding a metric is its module, one entry below, and its tests (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from hcxai.core.io import InputError
from hcxai.evaluate.complexity.spread import entropy, gini
from hcxai.evaluate.robustness.max_sensitivity import (
    avg_sensitivity,
    max_sensitivity,
)


@dataclass(frozen=True)
class MapSet:
    """What a metric reads of one analyzer's images: the maps (N, s, s) and, for a metric
    whose source is `robustness_maps`, the maps of the perturbed inputs (N, samples, s, s)."""

    maps: np.ndarray
    perturbed_maps: np.ndarray | None = None


@dataclass(frozen=True)
class MapMetric:
    name: str
    category: str  # the hcxai.evaluate sub-package: complexity, robustness, ...
    score: Callable[[MapSet], np.ndarray]  # per image (N,); NaN where undefined
    better: Literal["higher", "lower"]
    source: Literal["saliency", "robustness_maps"]  # the result file it reads (catalogue)
    description: str  # one line for tables and the report

    def improvement(self, difference: np.ndarray) -> np.ndarray:
        """A difference (analyzer - baseline) turned so that positive means better."""
        return difference if self.better == "higher" else -difference

    @property
    def scorecard_columns(self) -> list[str]:
        """The metric's columns in results/scorecard.csv."""
        name = self.name
        return [
            name,
            f"{name}_ci_low",
            f"{name}_ci_high",
            *(f"{name}_better_than_{baseline}" for baseline in BASELINES),
        ]


# The baselines every metric is compared with, by name in the per-image tables:
# `edge` is the model-free Sobel map of the input, `random` the random analyzer.
BASELINES = ("edge", "random")

METRICS = {
    metric.name: metric
    for metric in (
        MapMetric(
            "sparseness",
            "complexity",
            lambda s: gini(s.maps),
            "higher",
            "saliency",
            "Gini sparseness of |map| (Chalasani et al. 2020): 0 even, (n-1)/n one pixel",
        ),
        MapMetric(
            "entropy",
            "complexity",
            lambda s: entropy(s.maps),
            "lower",
            "saliency",
            "entropy of the shares of |map| (Bhatt et al. 2020): 0 one pixel, log n even",
        ),
        MapMetric(
            "max_sensitivity",
            "robustness",
            lambda s: max_sensitivity(s.maps, s.perturbed_maps),
            "lower",
            "robustness_maps",
            "largest relative change of the map under small input noise (Yeh et al. 2019)",
        ),
        MapMetric(
            "avg_sensitivity",
            "robustness",
            lambda s: avg_sensitivity(s.maps, s.perturbed_maps),
            "lower",
            "robustness_maps",
            "mean relative change of the map under small input noise (Yeh et al. 2019)",
        ),
    )
}


def metric(name: str) -> MapMetric:
    """The registered metric `name`; an unknown name is an InputError listing the known."""
    try:
        return METRICS[name]
    except KeyError:
        raise InputError(
            f"unknown metric {name!r} in `metrics`; choose from {sorted(METRICS)}"
        ) from None
