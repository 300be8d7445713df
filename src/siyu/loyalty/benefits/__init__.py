"""Tier benefits (issue 25): set per tier, taken up by members, their activation measured."""
