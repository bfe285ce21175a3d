"""Family keyvault of the local Azure (to be written)."""
