# Statistics of the per-image AOPCs: CIs, paired tests, Friedman + critical difference.
