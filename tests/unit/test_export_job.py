"""The export dialog's Qt-free half: progress text, output checks, wording, default names."""

from camvid_viewer.export.dialog_backend import (
    default_output,
    existing_outputs,
    format_progress,
    output_problem,
    window_wording,
)


def test_progress_text_eta_and_output_checks(tmp_path):
    assert format_progress(done=0, total=80, fps=0.0) == "0 / 80 frames"
    assert format_progress(done=12, total=80, fps=4.0) == "12 / 80 frames · 4.0 fps · ETA 0:17"
    assert format_progress(done=0, total=40_000, fps=10.0).endswith("ETA 1:06:40")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert output_problem(tmp_path / "new" / "deeper" / "v.mp4") is None
    assert output_problem(blocker / "v.mp4") == f"{blocker / 'v.mp4'}: cannot write here: {blocker} is a file, not a folder"
    (tmp_path / "masks").mkdir()
    assert existing_outputs(output=blocker, metrics_csv=tmp_path / "none.csv", masks_dir=tmp_path / "masks") == [blocker]
    (tmp_path / "masks" / "0001.png").write_bytes(b"")
    assert existing_outputs(output=tmp_path / "v.mp4", metrics_csv=None, masks_dir=tmp_path / "masks") == [tmp_path / "masks"]
    assert window_wording("v.mp4: already exists (use --overwrite to replace it)") == "v.mp4: already exists"


def test_default_output_sits_beside_the_source(tmp_path):
    folder = tmp_path / "val"
    folder.mkdir()
    assert default_output(str(folder) + "/") == tmp_path / "val-export.mp4"
    assert default_output(tmp_path / "drive.mov") == tmp_path / "drive-export.mp4"
