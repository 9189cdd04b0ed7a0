"""Devices as the service knows them: their credentials (credentials.py) and the cache ingest
checks them through (cache.py), chargers' IDs (charger_ids.py) and chargers' transactions
(transactions.py)."""
