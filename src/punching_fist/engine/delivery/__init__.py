"""Delivery policy: retries, circuit breakers, dead letters and manual re-sends to sinks."""
