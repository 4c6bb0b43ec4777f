"""hcxai: explainability for regression CNNs that estimate fetal head circumference.

The package reads as the pipeline, each layer importing only the ones below it:
`core` (I/O, random streams, table keys) < `stats` < `data` < `models` < `explain`
< `evaluate` (one sub-package per metric category, and the metric registry) <
`figures`. Importing the package never imports TensorFlow: the modules that need it
import it inside their functions, so data handling, evaluation and figures work in
the workflow environment.
"""

__version__ = "0.1.0"
