"""The channels a send leaves by, behind one small interface (send, classify, ask status)."""
