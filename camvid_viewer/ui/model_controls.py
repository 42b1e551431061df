"""Loading the window's model: Model > Open model, Device, Backend and Precision.

Every load runs on a worker thread. A device, backend or precision choice is committed to the
session only when the model loads with it; on failure the previous model and choices stay and
the menus show them again.
"""

from __future__ import annotations

__all__ = ["ModelControls"]

from camvid_viewer.loaders import load_segmenter, model_files
from camvid_viewer.ui.status import runtime_text


class ModelControls:
    """Mixed into ``MainWindow``: needs ``session``, ``actions``, ``welcome``, ``notice``, ``report``,
    ``message``, ``model_loaded``, ``restart``, ``_background``, ``open_model_dialog`` and ``statusBar``."""

    _model_problem = ""  # why no model is loaded at all, shown again when a source opens
    _model_request = 0  # the latest load asked for; an earlier one finishing later is dropped

    def load_model(self, path: str | None = None, *, device: str | None = None, backend: str | None = None,
                   precision: str | None = None, mode: str | None = None) -> None:
        """Load a checkpoint on a worker thread (``None``: the current one, else the shipped model).

        The device/backend/precision choice is committed only when loading works; on failure
        the previous model and choices stay.
        """
        s = self.session
        path = path if path is not None else s.model_path
        choice = {"device": device or s.device_choice, "backend": backend or s.backend_choice,
                  "precision": precision or s.precision_choice, "mode": mode or s.inference_choice}
        self.statusBar().showMessage("Loading model...")
        self._model_request = request = self._model_request + 1
        self._background(load_segmenter, path, **choice, **model_files(s, path),
                         done=lambda model: self._model_ready(model, path, request=request, **choice),
                         failed=lambda text: self._model_failed(text, request=request))

    def _model_ready(self, model, path, *, request: int, device: str, backend: str, precision: str, mode: str) -> None:
        s = self.session
        if request != self._model_request:
            return  # the user has asked for another model (or device, backend, precision, mode) since
        s.device_choice, s.backend_choice, s.precision_choice, s.inference_choice = device, backend, precision, mode
        for group, value in ((self.actions.devices, device), (self.actions.backends, backend),
                             (self.actions.precisions, precision), (self.actions.inference, mode)):
            group[value].setChecked(True)  # what runs (a backend change may have reset precision to auto)
        s.set_model(model, path or None)
        self.welcome.set_model_text(f"Model: {model.name} on {runtime_text(model)}")
        self.statusBar().showMessage(f"Loaded model {model.name}", 5000)
        note = getattr(model, "precision_note", None)
        if note:  # once per load: what runs is not what was asked for, and why
            self.report(f"{model.name} runs {note}")  # "... runs fp32: the model has no int8 calibration (...)"
        self.model_loaded.emit(model.name)
        self.restart()

    def _model_failed(self, text: str, *, request: int) -> None:
        s, a = self.session, self.actions
        if request != self._model_request:
            return  # a load asked for later decides what runs and what the menus show
        a.devices[s.device_choice].setChecked(True)
        a.backends[s.backend_choice].setChecked(True)
        a.precisions[s.precision_choice].setChecked(True)
        a.inference[s.inference_choice].setChecked(True)
        if s.model is None:
            self.welcome.set_model_text(f"No model loaded: {text}")
            self._model_problem = text
            self._show_model_problem()
            self.message.emit(text)
        else:
            self.report(text)

    def _show_model_problem(self) -> None:
        """No model at all: say why, and offer to open one (frames still play, without overlay)."""
        text = f"No model loaded: {self._model_problem}"
        self.notice.show_message(text, action="Open model...", callback=self.open_model_dialog)
        self.statusBar().showMessage(text, 10000)

    def set_device(self, device: str) -> None:
        self.load_model(device=device, precision=self._precision_for(device=device, backend=self.session.backend_choice))

    def set_backend(self, backend: str) -> None:
        self.load_model(backend=backend, precision=self._precision_for(device=self.session.device_choice, backend=backend))

    def _precision_for(self, *, device: str, backend: str) -> str | None:
        """int8 is an ONNX graph on the CPU: choosing PyTorch or CUDA goes back to auto (fp32 / fp16)."""
        leaves_onnx = backend == "torch" or device == "cuda"
        return "auto" if leaves_onnx and self.session.precision_choice == "int8" else None

    def set_precision(self, precision: str) -> None:
        """``auto``, ``fp32`` or ``int8``; what runs (``model.precision``) may differ, with a notice why."""
        self.load_model(precision=precision, mode="fast" if precision == "int8" else None)

    def set_inference(self, mode: str) -> None:
        """``fast`` or ``accurate``: the accurate mode is float, so int8 goes back to auto."""
        self.load_model(mode=mode, precision="auto" if mode == "accurate" and self.session.precision_choice == "int8" else None)
