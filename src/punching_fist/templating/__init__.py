"""templating layer."""
