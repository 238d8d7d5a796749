"""Looking back: the history index, progress over time, export."""
