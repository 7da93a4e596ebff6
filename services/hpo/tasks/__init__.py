"""ML tasks: how to build, train and score a model on a dataset snapshot."""
