"""An emulated GSM modem bank: sans-IO modem, pseudo-terminal server, control API."""
