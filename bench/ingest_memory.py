"""Peak memory (RSS) of an import and of decoding one image at the pixel limit (issue 11, point 3).

Usage: python bench/ingest_memory.py [--mb 200] [--formats csv,jsonl,json,parquet] [--dir DIR] [--skip-csv]
                                    [--skip-images] [--keep]

1. CSV: writes a posts file of about --mb MB shaped like ../shared/real/xhs_image_rows.csv (one row per
   image, crawl column names, `image_style` labels, `MM-DD` dates for 2024 and `YYYY-MM-DD` before,
   counts as text such as `1.2万`) with Chinese title / content / tags repeated on every row of a post
   (about 2 images per post), then runs the CLI import in a child process:
   `python -m trend_core ingest --db DB --posts FILE --map image_style=style_label`
   and reports the child's peak RSS beside a baseline child that only imports the same modules.
   `--formats` also imports the same rows as JSON Lines, a JSON array or Parquet.
2. Images: writes images of just under media.MAX_PIXELS pixels (a 16-bit grey PNG, an 8-bit RGB PNG,
   an RGBA PNG and a JPEG) and decodes each with `media.normalise_image` in its own child, beside a
   baseline child that imports the modules and reads the file's bytes.

Peak RSS is the child's VmHWM (/proc/self/status at exit), in MiB. Prints one line per figure and a final JSON line.
Takes a few minutes for 200 MB on a 2-core machine.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = ("碎花裙 西装 通勤 穿搭 小个子 早春 法式 复古 针织 开衫 牛仔裤 阔腿裤 半身裙 衬衫 风衣 大衣 卫衣 "
         "毛衣 连衣裙 短靴 乐福鞋 帆布鞋 温柔 气质 显瘦 显高 百搭 基础款 韩系 日系 美拉德 多巴胺 "
         "老钱风 学院风 甜酷 辣妹 松弛感 高级感 今天 分享 一下 我的 日常 真的 超级 好看 喜欢 推荐 "
         "姐妹们 冲鸭 绝了 氛围感 春天 夏天 秋天 冬天 约会 上班 周末 出游 拍照 姿势 小红书").split()
EMOJI = [":sparkles:", ":two_hearts:", ":money_bag:", ":link:", ":cherry_blossom:", ":dress:"]
HEADER = ["post_id", "poster_id", "image_no", "image_style", "post_date", "post_like", "post_collect",
          "post_title", "post_content", "post_tag"]


def _count(rng: random.Random) -> str:
    n = int(rng.lognormvariate(5, 1.6))
    return f"{n / 10_000:.1f}万" if n >= 10_000 else str(n)


def _date(rng: random.Random) -> str:
    if rng.random() < 0.3:  # this year's dates without a year, as the app shows them
        return f"{rng.randint(1, 3):02d}-{rng.randint(1, 18):02d}"
    return f"2023-{rng.randint(6, 12):02d}-{rng.randint(1, 28):02d}"


def write_csv(path: Path, megabytes: float, seed: int = 0) -> dict:
    """A crawl-like posts file of about `megabytes` MB: one row per image, text repeated per row."""
    rng = random.Random(seed)
    target = int(megabytes * 1_000_000)
    posters = [f"{rng.getrandbits(64):016x}" for _ in range(5_000)]
    rows = posts = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        while fh.tell() < target:
            posts += 1
            pid = f"{rng.getrandbits(64):016x}"
            title = "".join(rng.choices(WORDS, k=rng.randint(3, 7))) + rng.choice(EMOJI)
            body = "".join(rng.choice(WORDS) + (rng.choice("，。！～ ") if rng.random() < 0.3 else "")
                           for _ in range(rng.randint(10, 60)))
            body += rng.choice(EMOJI) + "\n" + "".join(rng.choices(WORDS, k=rng.randint(5, 20)))  # multi-line cell
            tags = " ".join(f"#{w}[话题]#" for w in rng.sample(WORDS, rng.randint(2, 8)))
            date, like, collect, poster = _date(rng), _count(rng), _count(rng), rng.choice(posters)
            for image_no in range(1, 1 + min(9, max(1, int(rng.expovariate(0.6)) + 1))):
                writer.writerow([pid, poster, image_no, rng.randint(0, 99), date, like, collect, title, body, tags])
                rows += 1
    return {"file": str(path), "bytes": path.stat().st_size, "rows": rows, "posts": posts}


# Runs `-m module args` or `-c code` and writes the process's VmHWM (peak RSS of its own address space,
# in kB) to a file at exit. ru_maxrss of a child is not used: Linux carries the parent's peak into it.
_WRAPPER = """
import atexit, runpy, sys
out, args = sys.argv[1], sys.argv[2:]
def hwm():
    with open('/proc/self/status') as fh:
        kb = next(line.split()[1] for line in fh if line.startswith('VmHWM:'))
    with open(out, 'w') as fh:
        fh.write(kb)
atexit.register(hwm)
if args[0] == '-m':
    sys.argv = [args[1], *args[2:]]
    runpy.run_module(args[1], run_name='__main__', alter_sys=True)
else:
    sys.argv = ['-c']
    exec(compile(args[1], '<bench>', 'exec'), {'__name__': '__main__'})
"""


def peak_rss_mib(args: list[str]) -> tuple[float, float, int, str]:
    """(peak RSS in MiB, seconds, exit status, the end of its stderr) of `python ARGS` in a child."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "hwm"
        proc = subprocess.run([sys.executable, "-c", _WRAPPER, str(out), *args], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, cwd=ROOT)
        peak = int(out.read_text()) / 1024 if out.exists() else float("nan")
    return peak, time.perf_counter() - started, proc.returncode, proc.stderr.decode("utf-8", "replace")[-2000:]


IMPORTS = "import trend_core.__main__, trend_core.ingest, trend_core.store, pandas, duckdb, pyarrow"


def _convert(csv_path: Path, fmt: str) -> Path:
    """The same posts as JSON Lines, a JSON array or Parquet (all columns as text, as the CSV reads)."""
    import pandas as pd

    frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    out = csv_path.with_suffix({"jsonl": ".jsonl", "json": ".json", "parquet": ".parquet"}[fmt])
    if fmt == "parquet":
        frame.to_parquet(out, index=False)
    else:
        frame.to_json(out, orient="records", lines=fmt == "jsonl", force_ascii=False)
    return out


def bench_posts(folder: Path, megabytes: float, formats: list[str]) -> dict:
    posts = folder / "posts.csv"
    described = write_csv(posts, megabytes)
    print(f"data: {described['bytes'] / 1e6:.1f} MB, {described['rows']:,} rows (one per image), "
          f"{described['posts']:,} posts, Chinese title / content / tags repeated per row", flush=True)
    base, _, _, _ = peak_rss_mib(["-c", IMPORTS])
    results: dict = {"data": described, "baseline_mib": round(base)}
    for fmt in formats:
        path = posts if fmt == "csv" else _convert(posts, fmt)
        db = folder / f"bench-{fmt}.duckdb"
        cmd = ["-m", "trend_core", "ingest", "--db", str(db), "--posts", str(path), "--map", "image_style=style_label"]
        peak, seconds, status, tail = peak_rss_mib(cmd)
        shown = " ".join(["python", *cmd])
        print(f"{fmt} import ({path.stat().st_size / 1e6:.0f} MB): peak RSS {peak:,.0f} MiB (baseline: interpreter "
              f"+ imports {base:,.0f} MiB), {seconds:.0f} s, exit {status}\n  command: {shown}", flush=True)
        if status:
            print(tail, file=sys.stderr)
        results[fmt] = {"bytes": path.stat().st_size, "command": shown, "peak_rss_mib": round(peak),
                        "seconds": round(seconds, 1), "exit": status}
        db.unlink(missing_ok=True)
    return results


def write_images(folder: Path) -> dict[str, Path]:
    """Images just under the pixel limit: 16-bit grey PNG, RGB PNG, RGBA PNG, JPEG."""
    import numpy as np
    from PIL import Image

    from trend_core.media import MAX_PIXELS

    side = math.isqrt(MAX_PIXELS)
    y, x = np.ogrid[:side, :side]
    out = {}
    grey16 = ((x * 7 + y * 3) % 65536).astype(np.uint16)
    out["png16_grey"] = folder / "grey16.png"
    Image.fromarray(grey16).save(out["png16_grey"], compress_level=9)
    del grey16
    rgb = np.empty((side, side, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = (x % 256), (y % 256), ((x + y) % 256)
    out["png_rgb"] = folder / "rgb.png"
    Image.fromarray(rgb).save(out["png_rgb"], compress_level=6)
    out["jpeg_rgb"] = folder / "rgb.jpg"
    Image.fromarray(rgb).save(out["jpeg_rgb"], quality=85)
    alpha = ((x ^ y) % 256).astype(np.uint8)
    rgba = np.dstack([rgb, alpha])
    del rgb, alpha
    out["png_rgba"] = folder / "rgba.png"
    Image.fromarray(rgba).save(out["png_rgba"], compress_level=6)
    return out


def bench_images(folder: Path) -> dict:
    from trend_core.media import MAX_PIXELS

    images = write_images(folder)
    results = {}
    for kind, path in images.items():
        base_code = f"import trend_core.media as m, numpy, PIL.Image; raw = open({str(path)!r}, 'rb').read()"
        code = base_code + "; r = m.normalise_image(raw); print(r[3], r[4])"
        base, _, _, _ = peak_rss_mib(["-c", base_code])
        peak, seconds, status, tail = peak_rss_mib(["-c", code])
        from PIL import Image
        with Image.open(path) as im:
            desc = f"{im.width}x{im.height} {im.mode} {path.suffix[1:].upper()}, {path.stat().st_size / 1e6:.1f} MB"
        print(f"image {kind} ({desc}): peak RSS {peak:,.0f} MiB, baseline (imports + file bytes) {base:,.0f} "
              f"MiB, decoding costs {peak - base:,.0f} MiB, {seconds:.1f} s, exit {status}", flush=True)
        if status:
            print(tail, file=sys.stderr)
        results[kind] = {"image": desc, "peak_rss_mib": round(peak), "baseline_mib": round(base),
                         "cost_mib": round(peak - base), "seconds": round(seconds, 1), "exit": status}
    print(f"  command: python -c \"import trend_core.media as m; m.normalise_image(open(FILE, 'rb').read())\" "
          f"(MAX_PIXELS = {MAX_PIXELS:,})")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=200.0, help="size of the posts file in MB (default 200)")
    parser.add_argument("--dir", type=Path, help="folder for the generated files (default: a temporary one)")
    parser.add_argument("--formats", default="csv", help="posts file formats to import, of csv,jsonl,json,parquet "
                        "(default csv; the others are the same rows converted)")
    parser.add_argument("--skip-csv", action="store_true", help="skip the posts file imports")
    parser.add_argument("--skip-images", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="ingest_memory_"))
    folder.mkdir(parents=True, exist_ok=True)
    out: dict = {"machine": f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"}
    try:
        if not args.skip_csv:
            out["posts"] = bench_posts(folder, args.mb, [f.strip() for f in args.formats.split(",") if f.strip()])
        if not args.skip_images:
            out["images"] = bench_images(folder)
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
