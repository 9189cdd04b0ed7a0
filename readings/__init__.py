"""Readings, from the wire to history: the contract they are checked by (fields.py,
validation.py), the records the stream carries (records.py), the writer that puts them into
history and current state (writer.py, copy_lines.py, registers.py, current_state.py) and the
reads of one device's history (history.py)."""
