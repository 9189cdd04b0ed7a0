"""Devices as the service knows them: their credentials (credentials.py) and the cache ingest
checks them through (cache.py), chargers' IDs (charger_ids.py), chargers' transactions
(transactions.py) and what chargers say about themselves, their statuses and connections, with
the availability made from them (availability.py)."""
