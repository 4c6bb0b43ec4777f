"""Randomisation checks (Adebayo et al. 2018): maps of re-initialised models and of a
model trained on shuffled labels, and how much they differ from the trained model's."""
