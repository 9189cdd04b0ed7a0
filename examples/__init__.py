"""Examples of joining the service: a device client (docs/DEVICES.md)."""
