"""Family entra of the local Azure (to be written)."""
