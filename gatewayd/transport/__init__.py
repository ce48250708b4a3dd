"""Serial transports that feed bytes from a port into an AT session."""
