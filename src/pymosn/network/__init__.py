"""NET/IO layer: listeners and connections (asyncio.Protocol on uvloop), read filter chains,
flow control and timeouts."""
