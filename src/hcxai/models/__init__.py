"""The regression CNNs: architecture, pretrained weights, training, and how well they
estimate HC (MAE, Bland-Altman)."""
