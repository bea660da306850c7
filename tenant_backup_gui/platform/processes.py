"""Whether a process of this machine still runs: history rows of a killed job name its pid."""

from __future__ import annotations

import functools
import os


@functools.lru_cache(maxsize=1)
def pid_space() -> str | None:
    """What a pid is a pid of: this kernel's boot id and this process's pid namespace (Linux). Two
    containers with the same hostname (Docker's default: the image's, or a fixed `hostname:`) each
    count pids from 1, so hostname + pid alone would let one judge the other's job by its own
    processes. None where neither can be read (macOS, Windows): hostname + pid as before."""
    parts = []
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            parts.append(fh.read().strip())
    except OSError:
        pass
    try:
        parts.append(os.readlink("/proc/self/ns/pid"))  # 'pid:[4026531836]'
    except (OSError, AttributeError, NotImplementedError):
        pass
    return " ".join(parts) or None


def process_tag() -> dict:
    """What a history row stores of the process that runs its job (its metadata's pid and pid_space)."""
    space = pid_space()
    return {"pid": os.getpid(), **({"pid_space": space} if space else {})}


def pid_alive(pid: int) -> bool:
    """True unless the process is known to be gone; any answer we cannot read counts as alive,
    so a live job's row is never marked interrupted. On Windows `os.kill(pid, 0)` would send
    Ctrl+C to the console's processes, so the process is opened and its exit code read instead."""
    if os.name == "nt":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists under another user; anything else: unknown
        return True
    return True


def _windows_pid_alive(pid: int) -> bool:
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.OpenProcess.restype = wintypes.HANDLE
    kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    process_query_limited_information, still_active, error_invalid_parameter = 0x1000, 259, 87
    handle = kernel32.OpenProcess(process_query_limited_information, False, pid)
    if not handle:
        return ctypes.get_last_error() != error_invalid_parameter  # 87: no such process; else (access denied) alive
    try:
        code = wintypes.DWORD()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == still_active
    finally:
        kernel32.CloseHandle(handle)
