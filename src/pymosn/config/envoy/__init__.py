"""Envoy v3 bootstrap configs, translated into MOSN's shape (see translator.py)."""
