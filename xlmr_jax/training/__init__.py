"""Optimizer, train state, train/eval steps, the loop, checkpoints and metric writers."""
