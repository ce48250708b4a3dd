"""Alembic environment and revision scripts (run through gatewayd.store.migrate, no alembic.ini)."""
