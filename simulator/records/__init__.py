"""Learning records: every graded session as xAPI 1.0.3 statements for the company's Learning
Record Store, queued on disk and sent when the LRS can be reached.

- :mod:`.statements` turns a session's evaluation into statements (typed, checked before
  they leave);
- :mod:`.outbox` keeps them on disk until the LRS has them (journaled: nothing is lost by a
  kill -9, nothing is stored twice);
- :mod:`.sender` posts them (batches, retries, the LRS's answers);
- :mod:`.sync` ties them together for ``roleplay sync``, ``roleplay lrs``, the app and export.
"""
