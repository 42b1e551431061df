"""Persistent viewer settings (QSettings, INI format): last folders, recent files, display, layout.

Tests point QSettings at a temporary folder (``QSettings.setPath``) or pass their own
organisation name, so they never touch a user's real settings. ``CAMVID_VIEWER_CONFIG_DIR``
does the same for a whole run (screenshots, demos).
"""

from __future__ import annotations

__all__ = ["ViewerSettings", "push_recent"]

import os

from PyQt6.QtCore import QByteArray, QSettings

MAX_RECENT = 10


def push_recent(recent: list[str], path: str, *, limit: int = MAX_RECENT) -> list[str]:
    """``recent`` with ``path`` moved to the front, without duplicates, at most ``limit`` long."""
    return ([path] + [p for p in recent if p != path])[:limit]


class ViewerSettings:
    """Typed accessors over one ``QSettings`` store."""

    def __init__(self, organization: str = "camvid-viewer", application: str = "viewer") -> None:
        config_dir = os.environ.get("CAMVID_VIEWER_CONFIG_DIR")
        if config_dir:
            QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, config_dir)
        self.store = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, organization, application)

    def _get(self, key: str, default, kind):
        value = self.store.value(key, default)
        try:
            if kind is bool and isinstance(value, str):
                return value.lower() in ("1", "true", "yes")
            return kind(value)
        except (TypeError, ValueError):
            return default

    def last_folder(self, kind: str) -> str:
        return self._get(f"folders/{kind}", "", str)

    def set_last_folder(self, kind: str, folder: str) -> None:
        self.store.setValue(f"folders/{kind}", folder)

    def recent_files(self) -> list[str]:
        value = self.store.value("recent/files", [])
        if isinstance(value, str):
            value = [value] if value else []
        return [str(v) for v in (value or [])]

    def add_recent(self, path: str) -> list[str]:
        recent = push_recent(self.recent_files(), path)
        self.store.setValue("recent/files", recent)
        return recent

    def clear_recent(self) -> None:
        self.store.setValue("recent/files", [])

    def opacity(self) -> float:
        return min(1.0, max(0.0, self._get("display/opacity", 0.5, float)))

    def set_opacity(self, value: float) -> None:
        self.store.setValue("display/opacity", float(value))

    def view(self) -> str:
        return self._get("display/view", "overlay", str)

    def set_view(self, value: str) -> None:
        self.store.setValue("display/view", value)

    def legend(self) -> bool:
        return self._get("display/legend", False, bool)

    def set_legend(self, value: bool) -> None:
        self.store.setValue("display/legend", bool(value))

    def mode(self) -> str:
        return self._get("playback/mode", "realtime", str)

    def set_mode(self, value: str) -> None:
        self.store.setValue("playback/mode", value)

    def geometry(self) -> QByteArray | None:
        value = self.store.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    def window_state(self) -> QByteArray | None:
        value = self.store.value("window/state")
        return value if isinstance(value, QByteArray) else None

    def set_layout(self, geometry: QByteArray, state: QByteArray) -> None:
        self.store.setValue("window/geometry", geometry)
        self.store.setValue("window/state", state)

    def sync(self) -> None:
        self.store.sync()
