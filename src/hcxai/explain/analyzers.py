"""The saliency methods: one registry entry per analyzer (pure Python, no TensorFlow).

An entry declares all that the rest of hcxai needs to know about an analyzer:
the iNNvestigate method it runs, its default parameters, which of them go to
iNNvestigate, how its inputs are prepared (the image, noisy samples, path
points, or nothing), and whether it is a relevance (LRP-type) method, which
keeps every activation in memory and is canonized (BatchNorm merged) first.
Parameters are checked by name in `PARAMETER_CHECKS`, shared by all analyzers.
Adding an analyzer is one `Analyzer(...)` line in `REGISTRY` (+ its test); the
config schema's enums and the README's analyzer table are checked against the
registry by the tests (docs/architecture.md shows the diff it takes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from hcxai.core.io import InputError
from hcxai.core.keys import models_of, of_model

POSTPROCESS = (None, "abs", "square")
IG_REFERENCES = ("black", "zeros")
# iNNvestigate 2.1.2's LRP rules that build without further arguments (a test
# checks them against iNNvestigate), so a misspelt variant fails at start-up.
LRP_VARIANTS = (
    "lrp.z",
    "lrp.z_plus",
    "lrp.z_plus_fast",
    "lrp.epsilon",
    "lrp.w_square",
    "lrp.flat",
    "lrp.alpha_1_beta_0",
    "lrp.alpha_1_beta_0_IB",
    "lrp.alpha_2_beta_1",
    "lrp.alpha_2_beta_1_IB",
    "lrp.sequential_preset_a",
    "lrp.sequential_preset_a_flat",
    "lrp.sequential_preset_b",
    "lrp.sequential_preset_b_flat",
)
# How an analyzer's network inputs are made from the images.
INPUTS = ("image", "noise_samples", "path_points", "none")


@dataclass(frozen=True)
class Analyzer:
    """One saliency method as hcxai runs it."""

    name: str  # the config name
    label: str  # for figures and tables
    method: str  # the iNNvestigate analyzer run on the prepared inputs
    defaults: Mapping[str, Any] = field(default_factory=dict)
    innvestigate_kwargs: tuple[str, ...] = ()  # parameters passed on to iNNvestigate
    optional: tuple[str, ...] = ()  # accepted parameters without a default
    inputs: str = "image"
    relevance: bool = False  # LRP-type rules: canonized, and every activation is kept


REGISTRY: tuple[Analyzer, ...] = (
    Analyzer("gradient", "Gradient", "gradient", {"postprocess": "abs"}, ("postprocess",)),
    Analyzer(
        "smoothgrad",
        "SmoothGrad",
        "gradient",  # on noisy samples drawn here: iNNvestigate's own ignores noise_scale
        {"noise_scale": 0.1, "augment_by_n": 64, "postprocess": "square"},
        ("postprocess",),
        inputs="noise_samples",
    ),
    Analyzer("deconvnet", "DeConvNet", "deconvnet"),
    Analyzer(
        "deep_taylor", "Deep Taylor", "deep_taylor.bounded", {"canonize": True}, relevance=True
    ),
    Analyzer("guided_backprop", "Guided Backprop", "guided_backprop"),
    Analyzer("input_x_gradient", "Input x Gradient", "input_t_gradient"),
    Analyzer(
        "integrated_gradients",
        "Integrated Gradients",
        "gradient",  # on path points made here: iNNvestigate's own fails on ResNet50
        {"steps": 64, "reference": "black"},
        inputs="path_points",
    ),
    Analyzer(
        "lrp",
        "LRP",
        "lrp.z",  # `variant` picks any iNNvestigate LRP rule
        {"variant": "lrp.z", "canonize": True},
        ("epsilon",),
        optional=("epsilon",),
        relevance=True,
    ),
    Analyzer("random", "Random", "random", {"seed": 2020}, inputs="none"),
)
ANALYZERS: dict[str, Analyzer] = {a.name: a for a in REGISTRY}
PAPER_ORDER = list(ANALYZERS)  # the paper's Table 1 order, random last


def paper_order(analyzers: Iterable[str]) -> list[str]:
    """`analyzers` in the paper's order, any others after them as they come."""
    present = list(dict.fromkeys(analyzers))
    return [a for a in PAPER_ORDER if a in present] + [a for a in present if a not in PAPER_ORDER]


def model_analyzer_groups(per_image: Any) -> Iterator[tuple[dict[str, str], str, Any]]:
    """(model, analyzer, rows) of a per-image DataFrame: models (backbone x loss) as they
    come, analyzers in the paper's order (then any others as they come), no empty group."""
    analyzers = paper_order(per_image["analyzer"])
    for model in models_of(per_image):
        rows_of_model = of_model(per_image, model)
        for analyzer in analyzers:
            rows = rows_of_model[rows_of_model["analyzer"] == analyzer]
            if not rows.empty:
                yield model, analyzer, rows


def _one_of(allowed: tuple[Any, ...]) -> Callable[[Any], bool]:
    return lambda value: value in allowed


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _non_negative(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


# Parameter name -> (check, what a valid value is).
PARAMETER_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "postprocess": (_one_of(POSTPROCESS), f"one of {POSTPROCESS}"),
    "augment_by_n": (_positive_int, "a positive integer"),
    "steps": (_positive_int, "a positive integer"),
    "noise_scale": (_non_negative, "a number >= 0 (noise sd / the image's input range)"),
    "reference": (
        _one_of(IG_REFERENCES),
        "'black' (a black image in normalised units, the paper's) or 'zeros'",
    ),
    "canonize": (
        lambda value: isinstance(value, bool),
        "true (merge BatchNorm into the convolutions, LRP as defined) or false "
        "(iNNvestigate's own BatchNorm rule)",
    ),
    "seed": (lambda value: isinstance(value, int) and not isinstance(value, bool), "an integer"),
    "variant": (_one_of(LRP_VARIANTS), f"one of the iNNvestigate LRP rules {LRP_VARIANTS}"),
    "epsilon": (_non_negative, "a number >= 0"),
}


@dataclass(frozen=True)
class AnalyzerSpec:
    """An analyzer as configured: the registry entry and its full, checked parameters."""

    analyzer: Analyzer
    params: dict[str, Any]

    @property
    def name(self) -> str:
        return self.analyzer.name

    @property
    def method(self) -> str:
        """The iNNvestigate method actually built (LRP: the chosen variant)."""
        return self.params.get("variant", self.analyzer.method)


def resolve(name: str, overrides: Mapping[str, Any] | None = None) -> AnalyzerSpec:
    """Defaults + overrides, checked before any work."""
    if name not in ANALYZERS:
        raise InputError(f"analyzers: {name!r} is unknown; choose from {PAPER_ORDER}")
    analyzer = ANALYZERS[name]
    overrides = dict(overrides or {})
    accepted = {*analyzer.defaults, *analyzer.optional}
    unknown = sorted(set(overrides) - accepted)
    if unknown:
        raise InputError(
            f"analyzer_params.{name}: unknown parameter(s) {unknown}; "
            f"{name} takes {sorted(accepted) or 'no parameters'}"
        )
    params = {**analyzer.defaults, **overrides}
    for key, value in params.items():
        check, valid = PARAMETER_CHECKS[key]
        if not check(value):
            raise InputError(f"analyzer_params.{name}.{key} must be {valid}, got {value!r}")
    return AnalyzerSpec(analyzer, params)
