"""Memory: the knowledge base of past incidents, runbooks and the response cache (issue 16)."""
