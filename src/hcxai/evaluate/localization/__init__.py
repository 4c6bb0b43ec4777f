"""Localization: how much of a map's relevance lies on the annotated skull."""
