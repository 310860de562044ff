"""SimPy discrete-event model of bonded links, feeding core exactly as the real backend does."""
