"""Live codes: channel codes with staff rotation behind them, group codes, and the welcome
messages a new friend gets."""
