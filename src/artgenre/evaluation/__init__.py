"""What a trained model is worth: a checkpoint back into its model, inputs and images (restore),
one exact pass over a set of images (predictions), scores (scores), the evaluation folder's
files (outputs), and the run report's tables, plots and Markdown (tables, plots, report)."""
