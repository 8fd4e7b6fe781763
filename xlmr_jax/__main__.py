"""`python -m xlmr_jax`: the `xlmr` command."""

from xlmr_jax.cli import console_main

console_main()
