"""Real-network backend: librist over loopback / network namespaces."""
