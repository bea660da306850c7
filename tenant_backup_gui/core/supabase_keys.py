"""What a Supabase API key grants, read from the key itself: the source, the store and the
restore all refuse anything but the service role's before a request is made."""

from __future__ import annotations

import base64
import json


def key_role(key: str) -> str | None:
    """What a Supabase API key grants: the `role` claim of a JWT key (read, not verified: only the
    project can verify it, and check() asks the project), or the kind of an opaque key."""
    key = key.strip()
    if key.startswith("sb_secret_"):
        return "service_role"
    if key.startswith("sb_publishable_"):
        return "publishable"
    parts = key.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    return payload.get("role") if isinstance(payload, dict) else None
