"""Fine-tuning and evaluation on the papers' benchmarks (XNLI, CoNLL NER, SQuAD/MLQA/XQuAD, GLUE).

Features (`classification`, `ner`, `qa`, `offsets`) -> seqio sources and preprocessor
(`sources`, `preprocessors`, `tfds_records`; tasks registered by `xlmr_jax.tasks` through
`registration`) -> fixed-shape batches (`batching`) -> jitted steps (`steps`), driven by
`loop.finetune` with the gin-configurable `specs`, dev-set model selection (`selection`),
evaluation (`evaluation`), prediction files (`predictions`) and results (`reporting`);
`evaluate.evaluate_checkpoint` evaluates a saved model. `session` holds what both share.
docs/finetuning.md has the settings and commands.
"""
