"""seqio task and mixture registrations (installed as `xlmr_jax.tasks`)."""
