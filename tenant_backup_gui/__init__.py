"""Tenant Backup: per-tenant backups and restores for a multi-tenant Supabase/PostgreSQL app."""

__version__ = "0.1.0"
