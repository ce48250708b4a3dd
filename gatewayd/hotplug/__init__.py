"""udev hotplug: discovery of AT ports (pure) and the pyudev monitor (I/O)."""
