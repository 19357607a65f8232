"""PROXY layer: the downstream request state machine (route, pick host, forward, retry,
time out, answer locally) on top of the stream, router and upstream layers."""
