"""Network (L4) filters, registered by name in `registry`."""
