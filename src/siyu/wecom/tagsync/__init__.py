"""Siyu tags and WeCom corp tags kept in step, both directions."""
