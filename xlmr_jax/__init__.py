"""xlmr-jax: XLM-R-style multilingual masked language models in JAX/Flax."""

import os

# TensorFlow (used by seqio/tfds for input pipelines only) is noisy about missing CUDA.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
