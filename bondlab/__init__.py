"""bondlab: a testbed for bonded video uplinks."""

__version__ = "0.1.0"
