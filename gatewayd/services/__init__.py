"""Use cases that own transactions; called by the API, the gateway and the CLI."""
