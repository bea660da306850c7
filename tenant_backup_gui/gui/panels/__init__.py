"""The main window's three panels, each its own widget: organizations (left), the selected
organization's backups and the history (right). The window wires them to its actions."""

from .backups import BackupsPanel
from .history import HistoryPanel
from .organizations import OrganizationsPanel

__all__ = ["BackupsPanel", "HistoryPanel", "OrganizationsPanel"]
