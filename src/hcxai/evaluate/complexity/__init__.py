"""Complexity: how concentrated a map's relevance is (Chalasani et al. 2020; Bhatt et al. 2020)."""
