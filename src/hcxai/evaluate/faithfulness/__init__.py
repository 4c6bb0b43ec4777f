"""Faithfulness: region perturbation, its imputations, AOPC and its statistics, and
whether the rankings survive a change of imputation."""
