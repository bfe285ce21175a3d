"""Family resources of the local Azure (to be written)."""
