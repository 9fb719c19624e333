"""The runtime beside a Toree kernel (the sidecar, model registration) and in Spark's Python workers."""
