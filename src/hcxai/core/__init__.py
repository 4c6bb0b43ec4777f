"""What every layer shares: checked I/O and atomic outputs, random streams, run
provenance, and the keys that name a model and an image in every table."""
