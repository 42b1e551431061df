"""End-to-end fixtures: every test gets its own Qt settings folder, never the user's."""

import pytest


@pytest.fixture(autouse=True)
def temp_settings(tmp_path, monkeypatch):
    from PyQt6.QtCore import QSettings

    folder = tmp_path / "settings"
    folder.mkdir(exist_ok=True)
    monkeypatch.setenv("CAMVID_VIEWER_CONFIG_DIR", str(folder))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    return folder
