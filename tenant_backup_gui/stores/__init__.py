"""Where backups live. A store only moves named objects (bytes); what a backup is, is in
core/manifest.py and stores/backups.py, shared by every store."""
