"""Local stand-ins for the outside world (WeCom, SMS, SMTP): no machine here reaches it."""
