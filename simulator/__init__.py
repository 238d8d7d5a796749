"""roleplay: practise customer-service soft skills with LLM-played customers.

The package root holds the domain (personas, rubrics, models, engine, evaluation,
sessions) and never imports Textual; the Textual app lives in ``simulator.tui``.
"""

__version__ = "0.1.0"
