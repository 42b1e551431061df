"""The two halves never mix: import-linter contracts from pyproject.toml, checked in every test run."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    done = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "0 broken" in done.stdout


#: CamVid's own table (model/classes.py): for CamVid data and the shipped model's card only.
_CAMVID_TABLE = re.compile(r"\b(CLASS_NAMES|NUM_CLASSES|VOID_INDEX|PALETTE_RGB|CAMVID)\b|\bpalette_bgr\(\)|void_index[^=\n]*=\s*11\b")


def test_views_take_classes_from_the_model_not_from_camvid_constants():
    """Names, count, palette and void come from the model's label set (its card) or the dataset's,
    never from CamVid's module constants, in the analysis, the export, the drawing, the window
    and the session."""
    package = ROOT / "camvid_viewer"
    files = [f for part in ("analysis", "export", "rendering", "ui") for f in sorted((package / part).rglob("*.py"))]
    files.append(package / "session.py")
    found = [f"{f.relative_to(ROOT)}:{n}: {line.strip()}"
             for f in files for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1)
             if _CAMVID_TABLE.search(line)]
    assert len(files) > 20 and not found, "\n".join(found)
