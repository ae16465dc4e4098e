"""mlml.models."""
