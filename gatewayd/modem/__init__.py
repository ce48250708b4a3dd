"""Per-modem driver, supervisor, inbox and outbox: the asyncio side of one modem."""
