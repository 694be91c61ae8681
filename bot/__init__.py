"""utilibot: composition root, CLI, channel adapters (bot/channels) and domain rules (bot/domain)."""
