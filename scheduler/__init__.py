"""Time-triggered work: a few fixed APScheduler jobs built from config (never one job per user)."""
