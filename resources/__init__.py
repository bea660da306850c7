"""Data files shipped with the package as tenant_backup_gui.resources (see pyproject.toml):
read them through tenant_backup_gui.platform.paths, never by a path of their own."""
