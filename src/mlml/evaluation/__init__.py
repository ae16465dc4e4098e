"""mlml.evaluation."""
