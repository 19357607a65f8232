"""Routing: virtual hosts and route tables compiled once from the config, matched per request."""
