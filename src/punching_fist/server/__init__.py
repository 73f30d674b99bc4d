"""The composition root: builds every part of a running server and wires them together."""
