"""mlml.reports."""
