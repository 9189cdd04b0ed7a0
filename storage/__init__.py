"""How the service reaches its stores: PostgreSQL engines (db.py), the connection budget of every
process (connections.py), the day partitions of history (partitions.py) and the Redis client
(redis_client.py)."""
