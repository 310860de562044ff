"""Pure, clock-agnostic bonding logic shared by the sim and real backends (no SimPy, no sockets)."""
