"""What comes back after a message: tracked short links, delivery receipts and replies (with
opt-out keywords), and the unsubscribe page."""
