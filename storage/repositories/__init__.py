"""Repositories: typed queries over one session; they flush but never commit."""
