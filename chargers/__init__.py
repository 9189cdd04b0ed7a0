"""The OCPP central system: chargers' own protocol, 1.6J and 2.0.1, turned into readings
(docs/OCPP.md). Its process is `ocpp` in the Procfile: `python -m chargers`."""
