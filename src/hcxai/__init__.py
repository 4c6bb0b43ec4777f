"""hcxai: explainability for regression CNNs that estimate fetal head circumference.

Importing the package never imports TensorFlow: the modules that need it
(models, train, saliency, perturbation) import it inside their functions, so
data handling, AOPC and figures work in the workflow environment.
"""

__version__ = "0.1.0"
