"""The keys that name a row in every table: which model (backbone x loss) and which image.

Declared once here, below every layer, so a new model dimension (after the loss) is one
entry in MODEL_KEYS plus its wildcard, not an edit to each table's schema.
"""

from __future__ import annotations

from typing import Any

# A trained model's identity in every table: its architecture and its training loss
# (the paper's open question, section 4: how the loss changes what can be explained).
MODEL_KEYS = ["backbone", "loss"]
# The model columns of a table schema (`hcxai.core.io.read_table`): a non-empty name each.
MODEL_COLUMNS = dict.fromkeys(MODEL_KEYS, "id")
# The config list each model key takes its values from (the wildcards of the rules).
MODEL_DIMENSIONS = {"backbone": "backbones", "loss": "losses"}


def models_of(table: Any) -> list[dict[str, str]]:
    """Each model (backbone x loss) of a DataFrame with MODEL_KEYS columns, as they come."""
    keys = dict.fromkeys(table[MODEL_KEYS].itertuples(index=False, name=None))
    return [dict(zip(MODEL_KEYS, key, strict=True)) for key in keys]


def of_model(table: Any, model: dict[str, str]) -> Any:
    """The rows of `table` that belong to `model`."""
    return table[(table[MODEL_KEYS] == [model[k] for k in MODEL_KEYS]).all(axis=1)]


def model_label(model: dict[str, str]) -> str:
    """A model's name in messages and figures, as its path level: `vgg16/mae`."""
    return f"{model['backbone']}/{model['loss']}"


IMAGE = ["fold", "image_id"]  # an image's identity: each image is tested in one fold
