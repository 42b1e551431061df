"""Playback control of the main window: play/pause, step, seek, jumps, speed, mode, loop.

Every method changes the session and asks the inference pipeline for frames; none
calls the model. The frame shown is always the one ``session.index`` names.
"""

from __future__ import annotations

__all__ = ["PlaybackControls"]

from camvid_viewer.session import FrameResult, clamp_index, step_index


class PlaybackControls:
    """Mixed into ``MainWindow``: needs ``session``, ``pipeline``, ``status``, ``actions``,
    ``report`` and ``statusBar``."""

    def request_frame(self) -> None:
        """Show exactly the frame ``session.index`` names (decoded, segmented, scored off the GUI thread)."""
        s = self.session
        if s.source is None or s.source.is_live:
            return
        self._configure_pipeline()
        self.pipeline.show_frame(source=s.source, index=s.index, model=s.model, truth=s.truth, generation=s.generation)

    def _configure_pipeline(self) -> None:
        """The model's own signals cost a softmax per pixel: only while a view shows them."""
        self.pipeline.signals = self.wants_signals()
        self.pipeline.low_confidence = self.session.low_confidence
        self.pipeline.motion_flicker = self.session.motion_flicker

    def wants_signals(self) -> bool:
        docks = [self.metrics_dock, getattr(getattr(self, "analysis_dock", None), "timeline_dock", None),
                 getattr(getattr(self, "editor", None), "dock", None)]  # frames worth correcting
        return any(dock is not None and not dock.isHidden() for dock in docks)

    def restart(self) -> None:
        """Re-run the current position after a model/truth change: keep playing or redraw the still."""
        if self.session.playing:
            self.play(start=self.session.index)
        else:
            self.request_frame()

    def play(self, start: int | None = None) -> None:
        s = self.session
        if s.source is None or not self.editor.leave_for_playback():  # playback leaves edit mode
            return
        count = s.frame_count
        if start is None:
            start = s.index + 1 if s.shows_named_frame else s.index
            if count is not None and start >= count:
                start = 0
        s.set_playing(True)
        self._configure_pipeline()
        self.pipeline.play(source=s.source, start=start, model=s.model, truth=s.truth, generation=s.generation,
                           mode=s.mode, speed=s.speed, loop=s.loop)

    def pause(self) -> None:
        self.pipeline.stop()
        self.session.set_playing(False)
        # stop() drops the still request a seek or a model change may just have queued, and any
        # result on its way: once paused, the frame shown must be the one the counter and slider
        # name, made by the current model (the stress test found a reload's redraw dropped this way).
        if not self.session.shows_named_frame:
            self.request_frame()

    def toggle_play(self) -> None:
        self.pause() if self.session.playing else self.play()

    def seek(self, index: int) -> None:
        s = self.session
        if s.source is None or s.source.is_live:
            return
        if not self.editor.may_leave(clamp_index(index, frame_count=s.frame_count)):  # unsaved label edits
            return
        s.set_index(clamp_index(index, frame_count=s.frame_count))
        if s.playing:
            self.play(start=s.index)
        else:
            self.request_frame()

    def step(self, delta: int) -> None:
        if self.session.playing:
            self.pause()
        self.seek(step_index(self.session.index, delta, frame_count=self.session.frame_count))

    def go_first(self) -> None:
        self.seek(0)

    def go_last(self) -> None:
        self.seek((self.session.frame_count or 1) - 1)

    def jump_labelled(self, direction: int) -> None:
        truth = self.session.truth
        if truth is None:
            self.report("This source has no ground truth: open an annotations folder first")
            return
        index = self.session.index
        target = truth.next_labelled(index) if direction > 0 else truth.previous_labelled(index)
        if target is None:
            self.statusBar().showMessage("No further labelled frame", 3000)
            return
        if self.session.playing:
            self.pause()
        self.seek(target)

    def set_speed(self, speed) -> None:
        self.session.set_speed(speed)
        if self.session.playing:
            self.play()  # carry on from the frame shown

    def set_mode(self, mode: str) -> None:
        source = self.session.source
        if source is not None and source.is_live and mode != "realtime":
            mode = "realtime"
            self.statusBar().showMessage("A live stream always plays in real time", 5000)
        self.session.set_mode(mode)
        self.actions.modes[mode].setChecked(True)
        if self.session.playing:
            self.play()  # carry on from the frame shown

    def set_loop(self, loop: bool) -> None:
        self.session.set_loop(loop)
        if self.session.playing:
            self.play()  # carry on from the frame shown

    def _on_result(self, result: FrameResult) -> None:
        try:
            if self.session.accept_result(result):
                self.status.frame_shown(result)
                if result.note:
                    self.statusBar().showMessage(result.note, 8000)
        finally:
            self.pipeline.acknowledge()

    def _on_playback_finished(self, reason: str) -> None:
        self.session.set_playing(False)
        source = self.session.source
        if reason.startswith("lost") and source is not None:
            path = source.path
            self.report(f"Connection lost: {reason[len('lost: '):]}", action="Retry", callback=lambda: self.open_path(path))
        elif reason.startswith("error"):
            self.report(reason[len("error: "):])
