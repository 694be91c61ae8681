"""Persistence: the only package that speaks SQL (models, unit of work, repositories, import/export)."""
