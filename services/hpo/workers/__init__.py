"""Worker processes: the training queue (GPU pool) and the sweep queue (CPU)."""
