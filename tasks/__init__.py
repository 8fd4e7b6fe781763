"""seqio task and mixture registrations (installed as `xlmr_jax.tasks`).

Importing registers every task and mixture whose data location is known (`task_locations`:
gin or XLMR_SPM_MODEL / XLMR_BENCHMARK_DIR / XLMR_CORPUS_DIR): `xlmr.xnli.<lang>`,
`xlmr.conll.<lang>`, the QA and GLUE tasks, and the CC-100 mixture `xlmr.cc100` with its
`xlmr.cc100.<lang>` tasks. Nothing is read at import beyond a listing of the corpus folder: the
corpus statistics behind the mixture's rates are read when the mixture is first used.
"""

from xlmr_jax.tasks import registry as _registry

REGISTERED: list[str] = _registry.register_from_locations()
