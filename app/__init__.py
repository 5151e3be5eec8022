"""Albert Lens desktop app (PySide6). Imports engine; never imported by engine."""
