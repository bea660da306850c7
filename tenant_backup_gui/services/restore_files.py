"""The files steps of a restore (a tenant's objects in Supabase Storage): what the dry run shows and
what the apply does — uploads before the rows' transaction, deletes only after its commit.

The backup is untrusted input: every key it lists is checked before anything is written or
deleted. A key under one of the tenant's [[files]] prefixes is restored; a key outside them only
when a tenant row of the backup names it (a rule's columns) and no object holds it now — a
restore never overwrites or deletes anything outside the tenant's prefixes."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from ..core import files as cf
from ..core.errors import ConfigError, IntegrityError
from ..core.files import FileEntry
from ..core.manifest import BackupInfo
from ..stores.tenant_files import TenantFiles, rows_reader
from .inventory import tenants


@dataclass
class FilesStep:
    files: TenantFiles
    upload: list[FileEntry]
    delete: list[tuple[str, str]]
    section: dict
    warnings: list[str] = field(default_factory=list)


def plan_files(ctx, org_id: str, info: BackupInfo, mode: str, choice: str, secret: bytes | None,
               cancelled=lambda: False) -> FilesStep | None:
    """The files section of a restore, or None when files are not part of it."""
    if choice == "none":
        return None
    if info.files is None:
        if choice == "only":
            raise ConfigError(f"backup {info.id} holds no files (it was taken without [[files]] rules); "
                              f"restore its rows without --files-only")
        return None
    rules = ctx.config.files
    if not rules:
        if choice == "only":
            raise ConfigError("no [[files]] rules are configured, so no object may be restored; add the rules the "
                              "backup was taken with to the config (see README, A tenant's files)")
        return FilesStep(None, [], [], {}, [f"the backup holds {len(info.files)} files but no [[files]] rules are "
                                            f"configured: the files were not restored"])
    files = ctx.files(org_id, secret, cancelled)
    buckets = {r.bucket for r in rules}
    inside, outside = [], []
    seen: set[tuple[str, str]] = set()
    for e in info.files:
        cf.check_entry(e)
        if (e.bucket, e.path) in seen:  # two contents for one key: which would the apply leave?
            raise IntegrityError(f"the backup lists {e.bucket}/{e.path} twice; this backup cannot be trusted: use "
                                 f"another one")
        seen.add((e.bucket, e.path))
        cf.stored_key(org_id, e.sha256)  # a hash that is not one: refused here
        if e.bucket not in buckets:
            raise IntegrityError(f"the backup lists {e.bucket}/{e.path}, in a bucket no [[files]] rule names; this "
                                 f"backup cannot be trusted: use another one")
        (inside if cf.under_rules(rules, org_id, e.bucket, e.path) else outside).append(e)
    current = files.list_now()
    owned_now = set(current)
    warnings: list[str] = []
    same_outside: list[FileEntry] = []  # outside the prefixes, a restore only ever creates an object
    if outside:
        @functools.cache
        def tenant_ids() -> tuple[str, ...]:  # read only when the backup lists keys outside the prefixes
            return tuple(t.id for t in tenants(ctx))
        named = files.named(rows_reader(ctx.store, info.tables, secret))
        for e in outside:
            if (e.bucket, e.path) not in named:
                raise IntegrityError(f"the backup lists {e.bucket}/{e.path}, which is neither under this tenant's "
                                     f"[[files]] prefixes nor named by its rows; this backup cannot be trusted: use "
                                     f"another one")
            meta = files.lookup(e.bucket, e.path)
            owner = cf.other_owner(rules, org_id, e.bucket, e.path, tenant_ids())
            if owner is not None:
                warnings.append(f"{e.bucket}/{e.path} (named by {named[(e.bucket, e.path)]}) lies among the files of "
                                f"organization {owner}: not restored, a restore writes no other tenant's files")
            elif meta is None:
                inside.append(e)  # absent now: put back, nothing is overwritten
            elif e.same_bytes(meta):
                same_outside.append(e)  # there now, as backed up: counted unchanged, never uploaded
            else:
                warnings.append(f"{e.bucket}/{e.path} (named by {named[(e.bucket, e.path)]}) is outside the "
                                f"tenant's [[files]] prefixes and differs now: left as it is")
    files.with_user_metadata(current, inside if mode == "replace" else ())  # user metadata: not in listings
    section = cf.files_plan(inside, current, owned_now, mode)
    section["unchanged"] += len(same_outside)
    section["bytes"]["unchanged"] += sum(e.size for e in same_outside)
    wanted = {(d["bucket"], d["path"]) for d in section["to_upload"]}
    upload = [e for e in inside if (e.bucket, e.path) in wanted]
    delete = [(d["bucket"], d["path"]) for d in section["to_delete"]]
    return FilesStep(files, upload, delete, section, warnings)
