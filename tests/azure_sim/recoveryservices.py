"""Family recoveryservices of the local Azure (to be written)."""
