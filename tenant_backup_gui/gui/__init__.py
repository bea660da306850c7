"""The window (PySide6 on a qasync loop). It calls services/ and holds no SQL and no HTTP."""
