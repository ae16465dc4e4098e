"""mlml.experiments."""
