"""The Textual app of roleplay: library → brief → chat → end, plus session history.

``simulator.tui.app`` is the entry point (``RoleplayApp``, ``run_app``). Importing it
never imports litellm: the model gateway is imported only when a session starts (or
by the warm-up worker, after the first screen has painted).
"""
