"""Upstream: cluster manager, hosts, load balancers and connection pools."""
