"""Sending: the ledger that makes every eligible recipient get one message or a recorded
reason, the dispatcher, and the rules checked at send time (eligibility, consent, quiet hours,
caps) and rendering with each recipient's template variables."""
