"""Model > Fine-tune on my labels... (and its button in the Labels dock): the fine-tune dialog,
prefilled from the window's model, source and annotation folder.

The dialog (:class:`camvid_viewer.ui.finetune_dialog.FinetuneDialog`) lives as long as the
window, so a run kept in the background can be watched again; it is refilled from the window
each time it is opened while no run is going.
"""

from __future__ import annotations

__all__ = ["FinetuneLauncher", "install_finetune", "finetune_inputs"]

from pathlib import Path

from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QToolButton

from camvid_viewer.editing.saving import default_annotation_folder
from camvid_viewer.sources.download import user_data_dir


def finetune_inputs(session) -> dict:
    """The dialog's starting values: the window's model (else the shipped one), its source (a frame
    folder or a video), that source's annotation folder, and CamVid to replay when it is found."""
    from model.data import default_camvid_root
    from model.inference import default_model_path

    source = session.source
    data = annotations = None
    if source is not None and not getattr(source, "is_live", False):
        data = Path(source.path)
        truth = session.truth
        annotations = truth.annotations_dir if truth is not None and truth.annotations_dir is not None \
            else default_annotation_folder(source)
    return {"init": session.model_path or default_model_path(), "data": data, "annotations": annotations,
            "replay": default_camvid_root()}


class FinetuneLauncher:
    """The menu action, the dock button and the one dialog they open."""

    def __init__(self, window, *, models_dir: Path | None = None) -> None:
        self.window = window
        # The dialog's keyword arguments: new models go beside the user's other trained ones
        # (tests add ``max_steps_per_epoch`` for short runs).
        self.options: dict = {"models_dir": models_dir or user_data_dir() / "models"}
        self.dialog = None
        self.action = QAction("&Fine-tune on my labels...", window)
        self.action.setToolTip("Train the current model further on the frames you labelled, then compare")
        self.action.triggered.connect(lambda _=False: self.open())

    def open(self):
        """Show the dialog (refilled from the window unless a run is going); returns it."""
        from camvid_viewer.ui.finetune_dialog import FinetuneDialog

        w = self.window
        if not w.editor.may_leave():  # unsaved label edits: saved, discarded, or the user stays
            return None
        if self.dialog is None:
            self.dialog = FinetuneDialog(w, **self.options)
            self.dialog.model_chosen.connect(w.load_model)
            if w.comparison is not None:
                self.dialog.compare_chosen.connect(w.comparison.compare_with)
        if not self.dialog.is_running():
            self.dialog.prefill(**finetune_inputs(w.session))
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog


def install_finetune(window) -> FinetuneLauncher:
    """Add Model > Fine-tune on my labels... (after Train...) and a button at the foot of the Labels dock."""
    launcher = FinetuneLauncher(window)
    menu = window.actions.menus["Model"]
    entries = menu.actions()
    after_train = entries.index(window.actions.train) + 1 if window.actions.train in entries else len(entries)
    menu.insertAction(entries[after_train] if after_train < len(entries) else None, launcher.action)
    dock_button = QToolButton()
    dock_button.setDefaultAction(launcher.action)
    window.editor.dock.widget().layout().addWidget(dock_button)
    return launcher
