"""Every file a run directory holds, its path, writer and reader together: checkpoints
(checkpoint), metrics.csv and val_acc_per_class.csv (metrics), split.csv (split),
confusion.csv (confusion), TensorBoard scalars (tensorboard), the tracker runs a run logs to
(trackers), and reading runs back (runs)."""
