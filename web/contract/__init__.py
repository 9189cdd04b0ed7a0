"""The HTTP side of the contract every blueprint shares: how a body is read, a cursor made, an
answer encoded (JSON or CSV) and made conditional."""
