"""The data layer: HC18 folders read and checked, synthetic phantoms in the same layout,
skull ellipses, grouped cross-validation folds and augmentation."""
