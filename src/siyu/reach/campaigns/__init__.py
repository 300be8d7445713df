"""Campaigns: planning (one command object for every entry point), starting, approval,
schedules and recurrence, pausing and cancelling, and what each campaign earned."""
