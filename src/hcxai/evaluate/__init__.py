"""Evaluating explanations, one sub-package per category (as Quantus groups them):
faithfulness, localization, randomisation, meta, complexity and robustness; the
metric registry; the scorecard that puts every view side by side."""
