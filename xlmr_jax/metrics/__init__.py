"""Official benchmark metrics, QA span decoding and result tables."""
