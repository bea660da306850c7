"""The nightly `tenant-backup daily`, installed in the OS's own scheduler.

Linux: a systemd user timer (Persistent=true: a run missed while the machine was off happens at
the next boot), or cron where no systemd user instance runs — touching only our own marked lines.
macOS: a LaunchAgent. Windows: a Task Scheduler task (StartWhenAvailable). The time is 02:00 UTC by
default; cron, launchd and Task Scheduler speak local time, so it is converted at install time."""

from __future__ import annotations

import os
import plistlib
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from xml.sax.saxutils import escape

from ..core.errors import ConfigError, TenantBackupError
from . import paths

def _suffix() -> str:
    name = paths.profile()
    return "" if name == "default" else f"-{name}"


# Names per profile: the default profile keeps the plain ones.
UNIT = "tenant-backup-daily"
CRON_MARK = "# tenant-backup:daily"
LAUNCHD_LABEL = "com.tenant-backup.daily"
TASK_NAME = "Tenant Backup Daily"


def unit() -> str:
    return UNIT + _suffix()


def cron_mark() -> str:
    return CRON_MARK + _suffix()


def launchd_label() -> str:
    return LAUNCHD_LABEL + _suffix()


def task_name() -> str:
    return TASK_NAME + _suffix()


def parse_at(at: str) -> time:
    try:
        hh, mm = at.split(":")
        return time(int(hh), int(mm))
    except (ValueError, AttributeError):
        raise ConfigError(f"--at {at!r} is not a time; use HH:MM in UTC, e.g. 02:00") from None


def daily_command() -> list[str]:
    """Absolute paths only: schedulers run with a minimal PATH."""
    if getattr(sys, "frozen", False):
        argv = [sys.executable]
    else:
        script = Path(sys.executable).parent / ("tenant-backup.exe" if os.name == "nt" else "tenant-backup")
        argv = [str(script)] if script.exists() else [sys.executable, "-m", "tenant_backup_gui"]
    if paths.profile() != "default":
        argv += ["--profile", paths.profile()]
    argv.append("daily")
    return argv


def next_run(at: time, now: datetime | None = None) -> datetime:
    now = now or datetime.now(timezone.utc)
    run = now.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    return run if run > now else run + timedelta(days=1)


def local_time(at: time, now: datetime | None = None) -> time:
    """02:00 UTC as the machine's local wall-clock time today (DST shifts it by an hour twice a
    year for cron/launchd/schtasks: re-run `schedule install` after a change if that matters)."""
    return next_run(at, now).astimezone().time()


@dataclass
class Spec:
    at: time
    command: list[str]
    environment: dict[str, str] = field(default_factory=dict)  # non-secret: config path, store
    env_file: Path | None = None  # a 0600 file of secrets the user chose knowingly


# ---------------------------------------------------------------- systemd

def systemd_dir() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "systemd" / "user"


def systemd_units(spec: Spec) -> dict[str, str]:
    env = "".join(f"Environment={shlex.quote(f'{k}={v}')}\n" for k, v in sorted(spec.environment.items()))
    env_file = f"EnvironmentFile={spec.env_file}\n" if spec.env_file else ""
    service = (
        "[Unit]\nDescription=Tenant Backup: back up every organization, then apply retention\n"
        "After=network-online.target\nWants=network-online.target\n\n"
        "[Service]\nType=oneshot\n"
        f"ExecStart={' '.join(shlex.quote(a) for a in spec.command)}\n{env}{env_file}"
        "Nice=10\n")
    timer = (
        "[Unit]\nDescription=Tenant Backup daily run\n\n"
        f"[Timer]\nOnCalendar=*-*-* {spec.at.hour:02d}:{spec.at.minute:02d}:00 UTC\nPersistent=true\n"
        "RandomizedDelaySec=0\n\n[Install]\nWantedBy=timers.target\n")
    return {f"{unit()}.service": service, f"{unit()}.timer": timer}


def systemd_user_available() -> bool:
    if not shutil.which("systemctl"):
        return False
    try:
        cp = subprocess.run(["systemctl", "--user", "show-environment"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return cp.returncode == 0


# ---------------------------------------------------------------- cron

def cron_line(spec: Spec, now: datetime | None = None) -> str:
    t = local_time(spec.at, now)
    env = " ".join(shlex.quote(f"{k}={v}") for k, v in sorted(spec.environment.items()))
    source = f"set -a && . {shlex.quote(str(spec.env_file))} && set +a && " if spec.env_file else ""
    log = paths.log_dir() / "cron.log"
    cmd = " ".join(shlex.quote(a) for a in spec.command)
    prefix = f"env {env} " if env else ""
    return (f"{t.minute} {t.hour} * * * {source}{prefix}{cmd} >> {shlex.quote(str(log))} 2>&1 "
            f"{cron_mark()} {spec.at.hour:02d}:{spec.at.minute:02d} UTC")


def _crontab_read() -> list[str]:
    cp = subprocess.run(["crontab", "-l"], capture_output=True, text=True)
    if cp.returncode != 0:  # "no crontab for user"
        return []
    return cp.stdout.splitlines()


def _crontab_write(lines: list[str]) -> None:
    text = "\n".join(lines) + ("\n" if lines else "")
    cp = subprocess.run(["crontab", "-"], input=text, capture_output=True, text=True)
    if cp.returncode != 0:
        raise TenantBackupError(f"crontab refused the new table: {cp.stderr.strip()}")


# ---------------------------------------------------------------- launchd / schtasks (generated, parsed in tests)

def launchd_plist(spec: Spec, now: datetime | None = None) -> bytes:
    t = local_time(spec.at, now)
    doc = {
        "Label": launchd_label(),
        "ProgramArguments": spec.command,
        "StartCalendarInterval": {"Hour": t.hour, "Minute": t.minute},
        "EnvironmentVariables": dict(spec.environment),
        "StandardOutPath": str(paths.log_dir() / "launchd.log"),
        "StandardErrorPath": str(paths.log_dir() / "launchd.log"),
        "ProcessType": "Background",
    }
    return plistlib.dumps(doc)


def schtasks_xml(spec: Spec, now: datetime | None = None) -> str:
    start = next_run(spec.at, now).astimezone().strftime("%Y-%m-%dT%H:%M:%S")
    program, args = spec.command[0], " ".join(subprocess.list2cmdline([a]) for a in spec.command[1:])
    return f"""<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo><Description>Tenant Backup: back up every organization, then apply retention</Description></RegistrationInfo>
  <Triggers>
    <CalendarTrigger>
      <StartBoundary>{start}</StartBoundary>
      <Enabled>true</Enabled>
      <ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>
    </CalendarTrigger>
  </Triggers>
  <Settings>
    <StartWhenAvailable>true</StartWhenAvailable>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <ExecutionTimeLimit>PT12H</ExecutionTimeLimit>
  </Settings>
  <Actions Context="Author">
    <Exec><Command>{escape(program)}</Command><Arguments>{escape(args)}</Arguments></Exec>
  </Actions>
</Task>
"""


# ---------------------------------------------------------------- the adapter

def backend() -> str:
    if sys.platform == "darwin":
        return "launchd"
    if os.name == "nt":
        return "schtasks"
    if systemd_user_available():
        return "systemd"
    if shutil.which("crontab"):
        return "cron"
    raise ConfigError("no scheduler found: neither a systemd user instance nor crontab is available; "
                      "install cron (e.g. apt-get install cron) or run `tenant-backup daily` from your own scheduler")


def install(spec: Spec) -> dict:
    kind = backend()
    if kind == "systemd":
        d = systemd_dir()
        d.mkdir(parents=True, exist_ok=True)
        for name, text in systemd_units(spec).items():
            (d / name).write_text(text)
        for args in (["daemon-reload"], ["enable", "--now", f"{unit()}.timer"]):
            cp = subprocess.run(["systemctl", "--user", *args], capture_output=True, text=True)
            if cp.returncode != 0:
                raise TenantBackupError(f"systemctl --user {' '.join(args)} failed: {cp.stderr.strip()}")
    elif kind == "cron":
        paths.log_dir().mkdir(parents=True, exist_ok=True)
        lines = [line for line in _crontab_read() if cron_mark() + " " not in line]
        _crontab_write(lines + [cron_line(spec)])
    elif kind == "launchd":
        plist = Path.home() / "Library" / "LaunchAgents" / f"{launchd_label()}.plist"
        plist.parent.mkdir(parents=True, exist_ok=True)
        plist.write_bytes(launchd_plist(spec))
        uid = os.getuid()
        subprocess.run(["launchctl", "bootout", f"gui/{uid}", str(plist)], capture_output=True)
        cp = subprocess.run(["launchctl", "bootstrap", f"gui/{uid}", str(plist)], capture_output=True, text=True)
        if cp.returncode != 0:
            raise TenantBackupError(f"launchctl bootstrap failed: {cp.stderr.strip()}")
    else:
        xml = paths.state_dir() / "task.xml"
        xml.parent.mkdir(parents=True, exist_ok=True)
        xml.write_text(schtasks_xml(spec), encoding="utf-16")
        cp = subprocess.run(["schtasks", "/Create", "/XML", str(xml), "/TN", task_name(), "/F"],
                            capture_output=True, text=True)
        if cp.returncode != 0:
            raise TenantBackupError(f"schtasks /Create failed: {cp.stderr.strip() or cp.stdout.strip()}")
    return status(spec.at)


def remove() -> dict:
    kind = backend()
    if kind == "systemd":
        subprocess.run(["systemctl", "--user", "disable", "--now", f"{unit()}.timer"], capture_output=True)
        for name in (f"{unit()}.service", f"{unit()}.timer"):
            (systemd_dir() / name).unlink(missing_ok=True)
        subprocess.run(["systemctl", "--user", "daemon-reload"], capture_output=True)
    elif kind == "cron":
        before = _crontab_read()
        after = [line for line in before if cron_mark() + " " not in line]
        if after != before:
            _crontab_write(after)
    elif kind == "launchd":
        plist = Path.home() / "Library" / "LaunchAgents" / f"{launchd_label()}.plist"
        subprocess.run(["launchctl", "bootout", f"gui/{os.getuid()}", str(plist)], capture_output=True)
        plist.unlink(missing_ok=True)
    else:
        subprocess.run(["schtasks", "/Delete", "/TN", task_name(), "/F"], capture_output=True)
    return status()


def status(at: time | None = None) -> dict:
    kind = backend()
    installed, command, when = False, None, at
    if kind == "systemd":
        svc = systemd_dir() / f"{unit()}.service"
        timer = systemd_dir() / f"{unit()}.timer"
        installed = svc.exists() and timer.exists()
        if installed:
            for line in svc.read_text().splitlines():
                if line.startswith("ExecStart="):
                    command = shlex.split(line[len("ExecStart="):])
            for line in timer.read_text().splitlines():
                if line.startswith("OnCalendar="):
                    when = parse_at(line.split()[1][:5])
    elif kind == "cron":
        mine = [line for line in _crontab_read() if cron_mark() + " " in line]
        installed = bool(mine)
        if installed:
            words = shlex.split(mine[0].split(cron_mark() + " ")[0])
            tail = mine[0].split(cron_mark() + " ")[1].split()
            when = parse_at(tail[0]) if tail else when
            cmd = words[5:words.index(">>")] if ">>" in words else words[5:]
            while cmd and (cmd[0] == "env" or "=" in cmd[0]):
                cmd = cmd[1:]
            command = cmd
    elif kind == "launchd":
        plist = Path.home() / "Library" / "LaunchAgents" / f"{launchd_label()}.plist"
        installed = plist.exists()
        if installed:
            command = plistlib.loads(plist.read_bytes())["ProgramArguments"]
    else:
        cp = subprocess.run(["schtasks", "/Query", "/TN", task_name()], capture_output=True, text=True)
        installed = cp.returncode == 0
    return {"installed": installed, "backend": kind, "command": command,
            "next_run": next_run(when).isoformat(timespec="minutes") if installed and when else None}
