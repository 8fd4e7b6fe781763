"""xlmr-jax: XLM-R-style multilingual masked language models in JAX/Flax."""

import os

# TensorFlow (used by seqio/tfds for input pipelines only) is noisy about missing CUDA.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# gs:// through gcsfs and tensorstore, one endpoint setting for both (storage.py).
from xlmr_jax.storage import configure_environment  # noqa: E402

configure_environment()

__version__ = "0.1.0"
