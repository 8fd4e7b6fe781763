"""The parts of `benchmarks/train_step.py` (one MLM train step, ours beside the HF peers).

- `shapes`: benchmark shapes, model configs and the host batches every implementation trains on;
- `peers`: one setup per implementation (ours, HF PyTorch, HF Flax) returning its step function;
- `harness`: a child process measures one (shape, implementation); the parent starts children;
- `profiling`: per-op time of the jitted steps from a jax.profiler trace;
- `report`: machine facts, versions, FLOPs, the ours / best-peer ratios and the table.
"""
