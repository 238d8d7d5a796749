"""Grading a session: measured figures, the judge and the `evaluate` command layer."""
