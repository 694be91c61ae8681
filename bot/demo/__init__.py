"""The demo: a bundled config and billing CSVs, and a terminal chat on a local SQLite file."""
