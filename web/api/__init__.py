"""The HTTP API's blueprints, one per domain: ingest and OCPP over HTTP, vehicles' and meters'
efficiency, devices, history, sessions, health, monitoring and the dashboard."""
