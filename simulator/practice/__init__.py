"""A practice session: the conversation engine, session storage and the headless runner."""
