"""Binds HTTP/2 connections (h2 state machines) to network connections: the server side turns
each downstream stream into a proxy stream receiver; the client side multiplexes upstream
requests as streams of one connection."""
