"""Modem profiles and bank maps loaded from hardware/*.toml; pure, stdlib only."""
