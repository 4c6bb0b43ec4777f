"""Saliency: the analyzer registry, their iNNvestigate construction (TensorFlow side),
and the HDF5 cache of maps every evaluation reads."""
