"""WeCom's callbacks: the URL that verifies, stores and answers at once, the inbox the worker
processes, and what each kind of event does."""
