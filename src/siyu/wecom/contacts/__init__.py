"""Staff, customers and the friendships between them: full syncs, a customer adding a guide
(welcome within WeCom's 20 s), and the alerts an operator acts on."""
