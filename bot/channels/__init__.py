"""Channel adapters: translate messengers' updates into Incoming and Replies into native messages."""
