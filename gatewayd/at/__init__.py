"""Sans-IO AT command core: bytes in, events out; stdlib only, no I/O, no clock of its own."""
