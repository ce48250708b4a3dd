"""Persistence: engine, models, migrations."""
