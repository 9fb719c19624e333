"""Models as native Spark SQL expressions: compile a scikit-learn pipeline, then check it against `predict`."""
