"""Family compute of the local Azure (to be written)."""
