"""Funnels: configurable steps (AARRR built in), counted over the analytical copy, and the
console page where operators define them."""
