"""What the data is: the registry of kinds of reading (kinds.py), the one source every other
package builds from, and the tables PostgreSQL holds (schema.py), declared from it."""
