"""Checkpoint conversion between xlmr-jax, HuggingFace transformers and fairseq."""
