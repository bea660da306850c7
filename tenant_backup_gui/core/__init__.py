"""Pure logic: no I/O, no Qt, no SQL. Everything here is testable with plain data."""
