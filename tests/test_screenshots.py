"""The README's pictures exist and show the current window: each was rendered by tests/screenshots.py
from the code it shows (a digest of that code, recorded when they were rendered)."""

from __future__ import annotations

import json
import re

from tests import screenshots

README = screenshots.ROOT / "README.md"


def referenced() -> list[str]:
    return re.findall(r"\(resources/screenshots/([\w.-]+\.png)\)", README.read_text())


def test_every_readme_screenshot_exists_and_was_rendered_from_the_current_code():
    names = referenced()
    assert {"main-window.png", "wizard-4-confirm.png", "wizard-partial.png", "settings.png"} <= set(names)
    doc = json.loads(screenshots.MANIFEST.read_text())
    rerender = "render them again: QT_QPA_PLATFORM=offscreen .venv/bin/python -m tests.screenshots"
    assert doc["digest"] == screenshots.inputs_digest(), f"the README's screenshots predate the window's code; {rerender}"
    for name in names:
        png = screenshots.OUT / name
        assert png.exists() and name in doc["files"], f"{name} is shown by the README but was not rendered; {rerender}"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_the_digest_follows_the_window_code(tmp_path, monkeypatch):
    """A change to the window's code makes the recorded pictures stale."""
    import shutil
    root = tmp_path / "repo"
    for pattern in screenshots.INPUTS:
        for path in screenshots.ROOT.glob(pattern):
            dest = root / path.relative_to(screenshots.ROOT)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, dest)
    monkeypatch.setattr(screenshots, "ROOT", root)
    before = screenshots.inputs_digest()
    main = root / "tenant_backup_gui" / "gui" / "main_window.py"
    main.write_text(main.read_text().replace("Create Manual Backup", "Back up"))
    assert screenshots.inputs_digest() != before
