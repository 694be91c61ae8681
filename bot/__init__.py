"""utilibot's top floor: composition root, CLI, channel adapters (bot/channels) and the demo."""
