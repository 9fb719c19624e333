"""What a user runs around the notebooks: the demo, a local cluster."""
