"""Trainers' tools: dry runs of a persona against simulated learners, cohort grading and reports."""
