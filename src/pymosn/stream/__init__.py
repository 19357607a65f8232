"""STREAM layer: binds protocol codecs to connections as request/response streams."""
