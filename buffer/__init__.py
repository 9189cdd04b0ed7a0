"""The Redis buffer between a 202 and the database: the ingest stream (stream.py) with its Lua
scripts (scripts.py), the entries workers read from it (entries.py), and the dead letters of
what the database refused (dead_letters.py)."""
