"""Robustness: how much a map changes when the input changes a little (Yeh et al. 2019)."""
