"""The OpenAPI document (document.py) and the paths and answer shapes it is built from."""
