"""Keyword auto-replies: the rules operators write, matching a customer's message (with patterns
that cannot stall the worker), and the benefit-code pools a reply hands out."""
