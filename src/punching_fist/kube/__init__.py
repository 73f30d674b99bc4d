"""How steps reach Kubernetes: the server's own credentials and the identities steps act as."""
