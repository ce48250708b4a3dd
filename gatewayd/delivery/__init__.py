"""Delivery of events to the outside: webhooks and the realtime feed."""
