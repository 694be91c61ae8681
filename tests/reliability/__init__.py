"""The reliability suite: hostile inputs, brute force, crashes and load (issue 9)."""
