"""--org as a newcomer types it: an organization id, or its exact name in any case. A name that
names none (or several) is one line listing the closest names, never a lookup guessed at."""

from __future__ import annotations

import difflib

from ..core import manifest as mf
from ..core.errors import ConfigError, TenantBackupError


def resolve_org(ctx, ref: str) -> str:
    """The organization id `ref` means: itself when it is an id (whether that tenant exists is the
    command's to say: its backups outlive it), else the one organization with that exact name."""
    text = (ref or "").strip()
    if mf.is_uuid(text.lower()):
        return text.lower()
    not_id = f"'{text}' is not an organization id (a UUID) nor the name of one"
    from ..services.inventory import tenants
    try:
        known = tenants(ctx)
    except TenantBackupError:
        raise ConfigError(f"{not_id}; list them with: tenant-backup tenants") from None  # names need the database
    same = [t for t in known if (t.name or "").strip().casefold() == text.casefold()]
    if len(same) == 1:
        return same[0].id
    if same:
        raise ConfigError(f"'{text}' names {len(same)} organizations ({', '.join(t.id for t in same)}); "
                          f"pass the id instead")
    names = {(t.name or "").casefold(): t.name for t in known if t.name}
    close = [names[n] for n in difflib.get_close_matches(text.casefold(), list(names), n=3, cutoff=0.5)]
    near = f" (closest: {', '.join(close)})" if close else ""
    raise ConfigError(f"{not_id}{near}; list them with: tenant-backup tenants")
