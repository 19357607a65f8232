"""HTTP stream filters: each module one filter, its config types and its factory."""
