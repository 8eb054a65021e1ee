"""Evaluation and speed benchmarks; run each as ``python benchmarks/<name>.py`` (see README)."""
