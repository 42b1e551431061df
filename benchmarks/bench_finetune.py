"""Play the user: one CamVid drive the model never trained on is "their footage"; N of its frames are
corrected (their true labels copied), the model is fine-tuned with the defaults, and the drive's other
labelled frames and CamVid val are scored before and after.

    python benchmarks/bench_finetune.py --model runs/folds/base-h0001TP.safetensors --drive 0001TP \
        --data ../shared/camvid --n 5 --n 10 --n 20 --out runs/finetune-bench

``--model`` must not have trained on ``--drive`` (train it with ``--val-split drive:NAME``). The
replayed frames are CamVid's train frames of the other drives. Prints one JSON line per N and a
Markdown table for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model.checkpoint import read_card  # noqa: E402
from model.data import pair_by_stem  # noqa: E402
from model.drives import drive_of  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--drive", required=True)
    parser.add_argument("--data", required=True, help="CamVid root (SegNet layout)")
    parser.add_argument("--n", type=int, action="append", help="corrected frames (repeatable; default 5, 10, 20)")
    parser.add_argument("--out", required=True, help="work folder (created)")
    args = parser.parse_args()
    card = read_card(args.model)
    if args.drive in ((card.get("drives") or {}).get("trained_on") or {}):
        parser.error(f"{args.model} trained on drive {args.drive}: choose a drive it never saw")
    data, work = Path(args.data), Path(args.out)
    work.mkdir(parents=True, exist_ok=False)
    pairs = pair_by_stem(data / "train", data / "trainannot")
    drive = [p for p in pairs if drive_of(p[0]) == args.drive]
    replay = _replay_root(work / "replay", [p for p in pairs if drive_of(p[0]) != args.drive])
    rows = []
    for n in args.n or [5, 10, 20]:
        step = len(drive) / n
        chosen = {int(step * i + step / 2) for i in range(n)}
        user = _folder(work / f"n{n}", [p for i, p in enumerate(drive) if i in chosen], "frames", "labels")
        rest = _folder(work / f"n{n}", [p for i, p in enumerate(drive) if i not in chosen], "rest", "restannot")
        before = _eval(args.model, rest), _eval(args.model, (data / "val", data / "valannot"))
        out = work / f"n{n}" / "tuned.safetensors"
        start, cpu0 = time.monotonic(), _children_cpu()
        _run("train", "--init", args.model, "--data", str(user[0]), "--annotations", str(user[1]),
             "--replay", str(replay), "--holdout", "0", "--out", str(out), "--no-int8")
        wall, cpu = time.monotonic() - start, _children_cpu() - cpu0
        after = _eval(out, rest), _eval(out, (data / "val", data / "valannot"))
        row = {"n": n, "scored_frames": len(drive) - n, "wall_min": round(wall / 60, 2), "cpu_min": round(cpu / 60, 2),
               "drive_miou_before": before[0]["mean_iou"], "drive_miou_after": after[0]["mean_iou"],
               "drive_pixel_acc_before": before[0]["pixel_accuracy"], "drive_pixel_acc_after": after[0]["pixel_accuracy"],
               "val_miou_before": before[1]["mean_iou"], "val_miou_after": after[1]["mean_iou"]}
        print(json.dumps(row), flush=True)
        rows.append(row)
    print(f"\n| N corrected | frames scored | {args.drive} mIoU before -> after | pixel acc before -> after | "
          "val mIoU before -> after | fine-tune wall / CPU min |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']} | {r['scored_frames']} | {_pct(r['drive_miou_before'])} -> {_pct(r['drive_miou_after'])} | "
              f"{_pct(r['drive_pixel_acc_before'])} -> {_pct(r['drive_pixel_acc_after'])} | "
              f"{_pct(r['val_miou_before'])} -> {_pct(r['val_miou_after'])} | {r['wall_min']} / {r['cpu_min']} |")
    return 0


def _pct(v: float) -> str:
    return f"{100 * v:.2f}%"


def _folder(root: Path, pairs, images: str, labels: str) -> tuple[Path, Path]:
    for sub in (images, labels):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for image, label in pairs:
        os.symlink(image.resolve(), root / images / image.name)
        os.symlink(label.resolve(), root / labels / label.name)
    return root / images, root / labels


def _replay_root(root: Path, pairs) -> Path:
    _folder(root, pairs, "train", "trainannot")
    return root


def _eval(model, folders) -> dict:
    done = _run("eval", "--images", str(folders[0]), "--annotations", str(folders[1]), "--model", str(model), "--json")
    return json.loads(done.stdout)


def _run(*argv) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), *argv], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:1])} failed: {done.stderr.strip().splitlines()[-1:]}")
    return done


def _children_cpu() -> float:
    usage = os.times()
    return usage.children_user + usage.children_system


if __name__ == "__main__":
    sys.exit(main())
