"""Statistics shared by every evaluation: bootstrap and t intervals, paired tests, Holm."""
