"""A training run: the data it reads on every rank (data), what it is built from (setup),
continuing from a checkpoint (resume), the steps of one epoch and the exact validation pass
(engine), optimizers and schedules (optim), and fit() that reads top to bottom (fit). The
small-data recipes (recipes) combine batch mixing and erasing (mixing), the weight average
(ema), distillation (distill) and early stopping (early_stopping)."""
