"""Tools the LLM agent can call, and the policies that keep them safe."""
