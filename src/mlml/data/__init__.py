"""mlml.data."""
