"""The v1 wire contract for readings (docs/DESIGN.md): the marshmallow fields a reading's values
are checked and rounded by (fields.py) and each kind's schema with the validator built from them
(validation.py). Every reading passes it, whichever door it came in by: `POST /v1/ingest` and a
charger's OCPP messages (chargers/mapping.py) alike, so both take and refuse the same values."""
