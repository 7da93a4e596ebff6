"""hpo: durable hyperparameter optimization on Temporal and S3."""

__version__ = "0.1.0"
