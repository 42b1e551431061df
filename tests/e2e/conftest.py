"""End-to-end fixtures: every test gets its own Qt settings folder, never the user's."""

import pytest


@pytest.fixture(autouse=True)
def temp_settings(tmp_path_factory, monkeypatch):
    from PyQt6.QtCore import QSettings

    # Its own folder, not inside tmp_path: tests list tmp_path to prove nothing was left behind.
    folder = tmp_path_factory.mktemp("settings")
    monkeypatch.setenv("CAMVID_VIEWER_CONFIG_DIR", str(folder))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    return folder
