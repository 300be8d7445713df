"""Connecting WeCom corps: their sealed configuration, the callback cryptography and the API
client each corp needs (with the log of every call made)."""
