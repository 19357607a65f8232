"""Every test process knows the built-in HTTP filters, as the server does before it loads a
config (server/cli.py): their kinds are registered by the filter layer."""

import pymosn.filter.http.registry  # noqa: F401
