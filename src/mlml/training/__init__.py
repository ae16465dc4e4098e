"""mlml.training."""
