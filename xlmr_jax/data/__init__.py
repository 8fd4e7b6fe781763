"""Pretraining and benchmark data: sources, preprocessors, mixtures, per-host pipelines."""
