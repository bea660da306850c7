"""OS integration: where files go, how settings are found, the sandbox database."""
