"""SimRelay Gateway: USB GSM modem banks and BYOS phones behind the SimRelay API."""
