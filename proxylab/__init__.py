"""proxylab."""
