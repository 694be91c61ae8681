"""Fake messenger APIs served on 127.0.0.1 for tests: the bot under test talks to them over real HTTP."""
