"""Model > Train...: train a model in a child process, watch it learn, adopt the best checkpoint.

Training runs as ``python main.py train --progress json`` in a :class:`QProcess`, so a crash or
an out-of-memory there never takes the viewer down. The dialog reads one JSON event per stdout
line (see :mod:`camvid_viewer.training.job`, which holds all the logic worth unit-testing).
"""

from __future__ import annotations

__all__ = ["TrainDialog"]

from pathlib import Path

from PyQt6.QtCore import QElapsedTimer, QProcess, QProcessEnvironment, QTimer, pyqtSignal
from PyQt6.QtWidgets import (
    QDialog,
    QMessageBox,
    QWidget,
)

from camvid_viewer import training as job
from camvid_viewer.messages import display_path
from camvid_viewer.sources.download import user_data_dir
from camvid_viewer.ui.train_form import TrainForm


class TrainDialog(TrainForm, QDialog):
    """The training dialog; ``model_chosen(path)`` fires when the user adopts the best checkpoint.

    Signals: ``event_received(ProgressEvent)`` for every stdout line (malformed ones too) and
    ``run_finished(outcome)`` with "done", "stopped" or "failed".
    """

    model_chosen = pyqtSignal(str)
    compare_chosen = pyqtSignal(str)  # "Compare with the current model": the best checkpoint as model B
    event_received = pyqtSignal(object)
    run_finished = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None, *, data_root: str = "", models_dir: Path | None = None,
                 max_steps_per_epoch: int | None = None, stop_timeout_ms: int = 5000) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train a model")
        self.resize(1320, 840)
        self._models_dir = models_dir or user_data_dir() / "models"
        self._max_steps = max_steps_per_epoch  # hidden --max-steps-per-epoch, for tests and demos
        self._stop_timeout_ms = stop_timeout_ms
        self._auto_out = ""
        self._request: job.TrainRequest | None = None
        self._progress = job.RunProgress()
        self._stdout_tail = b""
        self._stderr_last = ""
        self._stopping = False
        self._clock = QElapsedTimer()
        self._since_event = QElapsedTimer()
        self._process = QProcess(self)
        self._process.readyReadStandardOutput.connect(self._read_stdout)
        self._process.readyReadStandardError.connect(self._read_stderr)
        self._process.finished.connect(self._on_finished)
        self._process.errorOccurred.connect(self._on_process_error)
        self._kill_timer = QTimer(self, singleShot=True, interval=stop_timeout_ms, timeout=self._process.kill)
        self._tick = QTimer(self, interval=500, timeout=self._update_times)
        self._build()
        if data_root:
            self.data_edit.setText(data_root)
            self._dataset_changed()

    # ----- running
    def is_running(self) -> bool:
        return self._process.state() != QProcess.ProcessState.NotRunning

    def start(self) -> bool:
        """Check the form and start the child; returns False (message shown) when the input is bad."""
        if self.is_running():
            return False
        if not self.out_edit.text().strip():
            self._refresh_default_out()
        try:
            request = self._build_request()
        except job.JobInputError as exc:
            self.message_label.setText(str(exc))
            return False
        request.out.parent.mkdir(parents=True, exist_ok=True)
        self._request, self._progress, self._stopping = request, job.RunProgress(), False
        self._stdout_tail, self._stderr_last = b"", ""
        self.message_label.setText("")
        self.plots.set_classes(job.run_label_set(request=request))
        self.plots.clear()
        program, args = job.train_command(request=request)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        env.insert("PYTHONIOENCODING", "utf-8")
        self._process.setProcessEnvironment(env)
        self._process.setWorkingDirectory(str(job.project_root()))
        # main.py runs from the project folder (the working directory), so the log names it so.
        shown = ["main.py" if a == str(job.project_root() / "main.py") else display_path(a) for a in args]
        self._log(f"$ {Path(program).name} {' '.join(shown)}")
        self._set_running(True)
        self._clock.start()
        self._since_event.start()
        self._process.start(program, args)
        return True

    def _build_request(self) -> job.TrainRequest:
        """The form checked into a request (the fine-tune dialog checks its own form)."""
        return job.build_request(
            data=self.data_edit.text(), out=self.out_edit.text(), backbone=self.backbone_box.currentText(),
            epochs=self.epochs_edit.text(), batch_size=self.batch_edit.text(), lr=self.lr_edit.text(),
            crop=self.crop_edit.text(), augment=self.augment_check.isChecked(), device=self.device_box.currentText(),
            photometric=self.photometric_box.currentText(),
            resume=self.resume_edit.text(), max_steps_per_epoch=self._max_steps,
        )

    def _locked_while_running(self) -> tuple[QWidget, ...]:
        """The inputs a run may not change under it."""
        return self.data_edit, self.backbone_box, self.out_edit, self.resume_edit

    def stop(self) -> None:
        """End the child: terminate (SIGTERM), then kill after the timeout. The last epoch's file survives."""
        if not self.is_running():
            return
        self._stopping = True
        self._log("Stopping: the last finished epoch is kept in " + str(job.last_checkpoint_path(out=self._request.out)))
        self._process.terminate()
        self._kill_timer.start()

    def shutdown(self, timeout_ms: int = 3000) -> None:
        """Blocking stop for application exit (the main window calls it when it closes)."""
        if self.is_running():
            self.stop()
            if not self._process.waitForFinished(timeout_ms):
                self._process.kill()
                self._process.waitForFinished(timeout_ms)

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        for chosen in (self.use_button, self.compare_button):
            chosen.setEnabled(False if running else chosen.isEnabled())
        self.resume_last_button.setEnabled(False if running else self.resume_last_button.isEnabled())
        for w in self._locked_while_running():
            w.setEnabled(not running)
        if running:
            self.best_label.setText("Training...")
            self._tick.start()
        else:
            self._tick.stop()

    def _read_stdout(self) -> None:
        data = self._stdout_tail + bytes(self._process.readAllStandardOutput())
        *lines, self._stdout_tail = data.split(b"\n")
        for line in lines:
            self._handle_line(line)

    def _read_stderr(self) -> None:
        text = bytes(self._process.readAllStandardError()).decode("utf-8", errors="replace")
        for line in text.splitlines():
            if line.strip():
                self._stderr_last = line.strip()
                self._log(line)

    def _handle_line(self, line: bytes | str) -> None:
        event = job.parse_progress_line(line=line)
        if event is None:
            return
        if event.kind == "malformed":
            self._log(f"[unreadable progress line: {event.data['reason']}] {event.data['line']}")
        else:
            try:
                self._progress.apply(event)
            except (KeyError, TypeError, ValueError) as exc:  # a well-formed line with odd contents
                self._log(f"[progress line not understood: {exc!r}] {event.data}")
            self._since_event.start()
            self._show_event(event)
        self.event_received.emit(event)

    def _show_event(self, event: job.ProgressEvent) -> None:
        p, d = self._progress, event.data
        line = job.event_log_line(event=event, progress=p)
        if line is not None:
            self._log(line)
        if event.kind == "step":
            self.plots.show_losses(p.losses)
        elif event.kind == "epoch":
            if p.val:
                self.plots.show_validation(p.val, epochs=p.epochs)
            self.plots.show_class_iou(p.class_iou)
            val = d.get("val") or {}
            if d.get("best") and val:
                self.best_label.setText(f"Best so far: epoch {p.epoch}, {job.val_figures(val=val)}")
        self._update_bars()

    def _update_bars(self) -> None:
        p = self._progress
        self.epoch_bar.setValue(round(100 * p.epoch_fraction()))
        self.epoch_bar.setFormat(f"epoch {min(p.epoch + 1, max(p.epochs, 1))}/{p.epochs}: %p%" if p.epochs else "epoch: %p%")
        self.run_bar.setValue(round(100 * p.run_fraction()))
        self.run_bar.setFormat(f"run: step {p.step}/{p.total_steps} (%p%)")
        self._update_times()

    def _update_times(self) -> None:
        eta = self._progress.eta_s
        if eta is not None and self.is_running():
            eta = max(0.0, eta - self._since_event.elapsed() / 1000)
        elapsed = self._clock.elapsed() / 1000 if self._clock.isValid() else None
        self.time_label.setText(f"elapsed {job.format_duration(seconds=elapsed)}   ETA {job.format_duration(seconds=eta)}")

    def _on_process_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._log(f"Could not start the training process: {self._process.errorString()}")
            self._finish("failed")

    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._read_stdout()
        self._read_stderr()
        if self._stdout_tail.strip():
            self._handle_line(self._stdout_tail)
        self._stdout_tail = b""
        if self._stopping:
            outcome = "stopped"
        elif code == 0 and status == QProcess.ExitStatus.NormalExit and self._progress.best_path is not None:
            outcome = "done"
        else:
            outcome = "failed"
            why = self._progress.error or self._stderr_last or f"exit status {code}"
            self.message_label.setText(f"Training failed: {why}")
        self._log(f"Training {outcome} after {job.format_duration(seconds=self._clock.elapsed() / 1000)}.")
        self._finish(outcome)

    def _finish(self, outcome: str) -> None:
        self._kill_timer.stop()
        self._set_running(False)
        self._update_times()
        if self._request is not None:
            job.remove_stale_temp_files(out=self._request.out)
            self._show_checkpoints(self._request)
        self.run_finished.emit(outcome)

    def _show_checkpoints(self, request: job.TrainRequest) -> None:
        result = job.run_result(request=request)
        self.best_label.setText(result.best_text or "No checkpoint was saved (no epoch finished).")
        self.use_button.setEnabled(result.best_text is not None)
        self.compare_button.setEnabled(result.best_text is not None)
        self.resume_last_button.setEnabled(result.resumable)
        self.resume_last_button.setText(f"Resume from epoch {result.last_epoch}" if result.resumable else "Resume last run")

    def _use_best(self) -> None:
        if self._request is not None and self._request.out.is_file():
            self.model_chosen.emit(str(self._request.out))

    def _compare_best(self) -> None:
        if self._request is not None and self._request.out.is_file():
            self.compare_chosen.emit(str(self._request.out))

    def _resume_last(self) -> None:
        if self._request is not None:
            self.resume_edit.setText(str(job.last_checkpoint_path(out=self._request.out)))
            self.out_edit.setText(str(self._request.out))

    def _log(self, text: str) -> None:
        self.log_view.appendPlainText(text)

    # ----- closing
    def _ask_close_action(self) -> str:
        """"stop", "background" or "cancel"; a method so tests can answer it."""
        box = QMessageBox(QMessageBox.Icon.Question, "Training is running",
                          "Stop training, or keep it running in the background?", parent=self)
        stop = box.addButton("Stop training", QMessageBox.ButtonRole.DestructiveRole)
        keep = box.addButton("Keep training in background", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return "stop" if box.clickedButton() is stop else "background" if box.clickedButton() is keep else "cancel"

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if self.is_running():
            action = self._ask_close_action()
            if action == "cancel":
                event.ignore()
                return
            if action == "stop":
                self.stop()
            else:
                self._log("Training continues in the background; reopen Model > Train... to watch it.")
        event.accept()

    def reject(self) -> None:
        """Escape goes through the same question as the close button."""
        self.close()

