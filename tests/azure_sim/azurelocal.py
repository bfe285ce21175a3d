"""Family azurelocal of the local Azure (to be written)."""
