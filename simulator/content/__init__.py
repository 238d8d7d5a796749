"""What trainers write: persona and rubric files, their formats and the workspace library that loads them."""
