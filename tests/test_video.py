"""Video posts: the still at 15 s (or the middle of a shorter clip), limits, rejects, and ingest."""
from __future__ import annotations

import csv
import hashlib
import io
import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from trend_core import ingest, video
from trend_core.store import Store
from trend_core.video import VideoRejected, frame_at, grab_still, is_video_name, still_time

FPS = 2
SIDE = 64
# One solid colour per second of a clip (27 RGB levels of 0 / 128 / 255; 20 s clips use the first 20).
PALETTE = [(r, g, b) for r in (0, 128, 255) for g in (0, 128, 255) for b in (0, 128, 255)]
# Encoders: scene-cut detection off and one keyframe per clip, so the still at 15 s can only be right
# when the decoder runs forward from the keyframe at 0 s to the exact frame.
ENCODERS = {
    "mpeg4": {"sc_threshold": "1000000000"},
    "libx264": {"sc_threshold": "0"},        # default preset: B-frames, so pts are reordered
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8"},
}


def write_clip(path: Path, seconds: int, codec: str = "mpeg4", fmt: str | None = None,
               rotation: int | None = None, size: tuple[int, int] = (SIDE, SIDE), start: int = 0,
               faststart: bool = False) -> Path:
    """A clip of `seconds` s at FPS frames per second whose first frame is at `start` s; second s
    of the clip is PALETTE[s] (a left red band when `rotation` is given, to see which way the still
    was turned). faststart: MP4 index before the frames, as web videos have."""
    if codec not in av.codecs_available:
        pytest.skip(f"PyAV build without the {codec} encoder")
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", format=fmt, options=options) as out:
        stream = out.add_stream(codec, rate=FPS, options=ENCODERS.get(codec, {}))
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = seconds * FPS
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i in range(seconds * FPS):
            pixels = np.empty((size[1], size[0], 3), np.uint8)
            pixels[:] = PALETTE[i // FPS]
            if rotation is not None:
                pixels[:, : size[0] // 4] = (255, 0, 0)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = i + start * FPS, Fraction(1, FPS)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def second_shown(image: Image.Image) -> int:
    """The second whose palette colour the image's centre shows (and it must be close)."""
    centre = np.array(image.convert("RGB").getpixel((image.width // 2, image.height // 2)), float)
    distances = [float(np.abs(centre - np.array(c)).max()) for c in PALETTE]
    best = int(np.argmin(distances))
    assert distances[best] < 40, f"centre {centre} matches no palette colour"
    return best


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clips")
    write_clip(root / "long.mp4", 20)
    write_clip(root / "short.mp4", 6)
    return root


# -- the still -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("codec", "name"), [("mpeg4", "a.mp4"), ("libx264", "b.mkv"),
                                             ("libvpx-vp9", "c.webm"), ("mpeg4", "d.ts")])
def test_still_of_a_long_clip_is_the_frame_at_15_s(tmp_path, codec, name):
    path = write_clip(tmp_path / name, 20, codec)
    still = grab_still(path)
    assert still.seconds == 15.0 and still.duration == pytest.approx(20.0, abs=0.6)
    assert still.image.mode == "RGB" and still.image.size == (SIDE, SIDE)
    assert second_shown(still.image) == 15


def test_short_clip_gives_its_middle_and_bytes_work(clips):
    still = grab_still((clips / "short.mp4").read_bytes())
    assert still.seconds == 3.0 and still.duration == 6.0
    assert second_shown(still.image) == 3
    image = frame_at(clips / "long.mp4", seconds=4.0)      # another time: 4 s of a 20 s clip
    assert isinstance(image, Image.Image) and second_shown(image) == 4


def test_unknown_duration_is_found_by_decoding(tmp_path):
    path = write_clip(tmp_path / "raw.m4v", 6, fmt="m4v")   # raw MPEG-4 stream: no duration anywhere
    with av.open(str(path)) as container:
        assert container.streams.video[0].duration is None and container.duration is None
    still = grab_still(path)
    assert still.seconds == 3.0 and still.duration == 6.0 and second_shown(still.image) == 3


@pytest.mark.parametrize(("name", "seconds", "shown"), [("late.ts", 20, 15), ("late.mkv", 6, 3),
                                                      ("late.mp4", 20, 15)])
def test_clips_that_start_late(tmp_path, name, seconds, shown):
    """First frame at 10 s: the still is 15 s (or half the length) after it. Matroska counts its
    duration from 0 (16 s for this 6 s clip): the frames end early, so the length is decoded."""
    still = grab_still(write_clip(tmp_path / name, seconds, start=10))
    assert still.seconds == float(shown) and second_shown(still.image) == shown


def test_still_time_rule():
    assert [still_time(d) for d in (20.0, 15.0, 14.0, 6.0, 0.0)] == [15.0, 15.0, 7.0, 3.0, 0.0]
    assert still_time(10.0, seconds=4.0) == 4.0


def test_display_rotation_is_applied(tmp_path):
    path = write_clip(tmp_path / "phone.mp4", 2, rotation=-90, size=(64, 32))  # a phone held upright
    image = frame_at(path)
    assert image.size == (32, 64)                            # shown portrait
    top, bottom = image.getpixel((16, 4)), image.getpixel((16, 60))
    assert top[0] > 200 and top[1] < 60 and bottom[0] < 60   # the left band turned clockwise to the top


# -- rejects ---------------------------------------------------------------------------------------
def _reason(source) -> VideoRejected:
    with pytest.raises(VideoRejected) as info:
        grab_still(source)
    return info.value


def test_corrupt_inputs_are_video_corrupt(tmp_path, clips):
    data = (clips / "long.mp4").read_bytes()
    assert _reason(data[: len(data) // 2]).reason == "video_corrupt"   # index at the end: cut off
    assert _reason(b"\x00garbage" * 500).reason == "video_corrupt"
    assert _reason(b"").reason == "video_corrupt"
    web = write_clip(tmp_path / "web.mp4", 20, faststart=True).read_bytes()
    frames_at = web.index(b"mdat")
    cut = _reason(web[: frames_at + (len(web) - frames_at) // 3])      # index fine, frames end early
    assert cut.reason == "video_corrupt" and "frames end" in cut.detail
    audio = tmp_path / "audio.mkv"
    with av.open(str(audio), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        out.mux(stream.encode(frame))
        out.mux(stream.encode())
    no_video = _reason(audio)
    assert no_video.reason == "video_corrupt" and "no video stream" in no_video.detail


def test_missing_file_is_video_missing(tmp_path):
    assert _reason(tmp_path / "nope.mp4").reason == "video_missing"


def test_limits_are_video_too_large(clips):
    long = clips / "long.mp4"
    for limit in ({"max_frames": 5}, {"max_pixels": 1000}, {"max_bytes": 100}):
        with pytest.raises(VideoRejected) as info:
            grab_still(long, **limit)
        assert info.value.reason == "video_too_large", limit


def test_playlist_cannot_read_files_elsewhere(tmp_path):
    """An HLS playlist would make FFmpeg open a video outside the folder; only plain containers open."""
    outside = write_clip(tmp_path / "outside.ts", 20)
    assert second_shown(frame_at(outside)) == 15                 # the segment itself is fine
    playlist = tmp_path / "inside" / "clip.m3u8"
    playlist.parent.mkdir()
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:20\n#EXTINF:20,\n{outside}\n#EXT-X-ENDLIST\n",
                        encoding="utf-8")
    assert _reason(playlist).reason == "video_corrupt"


def test_is_video_name():
    for name in ("a.mp4", "B.MOV", "x/y.webm", "c.ts", "https://cdn.example/v.mp4?sign=1#t=3", "clip.3gp"):
        assert is_video_name(name), name
    for name in ("a.jpg", "mp4", "x.mp4.png", "https://cdn.example/v.jpg?x=.mp4", ""):
        assert not is_video_name(name), name


# -- ingest ----------------------------------------------------------------------------------------
@pytest.fixture()
def media(tmp_path, clips) -> Path:
    root = tmp_path / "media"
    (root / "clips").mkdir(parents=True)
    (root / "clips" / "a.mp4").write_bytes((clips / "long.mp4").read_bytes())
    (root / "clips" / "short.mkv").write_bytes(write_clip(tmp_path / "s.mkv", 6, "libx264").read_bytes())
    whole = (clips / "long.mp4").read_bytes()
    (root / "clips" / "broken.mp4").write_bytes(whole[: len(whole) // 2])
    (root / "cover.jpg").write_bytes(_jpeg((10, 200, 10)))
    (tmp_path / "outside.mp4").write_bytes((clips / "short.mp4").read_bytes())
    return root


def _jpeg(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buf, format="JPEG")
    return buf.getvalue()


ROWS = [  # post_id, post_date, post_title, post_img, post_video
    ["v1", "2024-05-01", "长视频", "", "clips/a.mp4"],
    ["v2", "2024-05-02", "短视频在图片列", "clips/short.mkv", ""],
    ["p1", "2024-05-03", "照片", "cover.jpg", ""],
    ["v3", "2024-05-04", "坏视频", "", "clips/broken.mp4"],
    ["v4", "2024-05-05", "没有文件", "", "clips/missing.mp4"],
    ["v5", "2024-05-06", "外面", "", "../outside.mp4"],
    ["v6", "2024-05-07", "链接", "", "https://cdn.example/v6.mp4"],
    ["v7", "2024-05-08", "", "", "https://cdn.example/v7.mp4"],
    ["v8", "2024-05-09", "链接+封面", "cover.jpg", "https://cdn.example/v8.mp4"],
    ["v9", "2024-05-10", "视频+封面", "cover.jpg", "clips/a.mp4"],
]


def _posts_csv(path: Path) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["post_id", "post_date", "post_title", "post_img", "post_video"])
    writer.writerows(ROWS)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def test_ingest_takes_video_stills_and_rejects_bad_videos(tmp_path, media):
    store = Store(tmp_path / "t.duckdb")
    summary = ingest.ingest_file(store, _posts_csv(tmp_path / "posts.csv"), images_dir=media)
    assert summary["rows_read"] == len(ROWS)
    assert summary["accepted"] + summary["rejected"] == summary["rows_read"]
    assert summary["reasons"] == {"video_corrupt": 1, "video_missing": 1, "video_outside_root": 1,
                                  "empty_post": 1}
    assert list(summary["warnings"]) == ["video_url_not_fetched"]  # v6, v7 and v8's video
    assert summary["warnings"]["video_url_not_fetched"].startswith("3 video URL(s) were not downloaded")
    json.dumps(summary)

    posts = store.load_posts().set_index("post_id")
    # v9 has a cover and a local video: the video's still is one more image of the post
    assert sorted(posts.index) == ["p1", "v1", "v2", "v6", "v8", "v9#1", "v9#2"]
    assert posts.loc["v1", "image_source"] == "clips/a.mp4#t=15.0"
    assert posts.loc["v2", "image_source"] == "clips/short.mkv#t=3.0"
    assert posts.loc["v9#2", "image_source"] == "clips/a.mp4#t=15.0"
    assert posts.loc["v9#2", "image_hash"] == posts.loc["v1", "image_hash"]  # one stored still
    cover = hashlib.sha256((media / "cover.jpg").read_bytes()).hexdigest()
    assert posts.loc["v9#1", "image_hash"] == cover and posts.loc["v9#1", "image_no"] == 1
    assert posts.loc["v8", "image_hash"] == cover == posts.loc["p1", "image_hash"]  # URL video: the cover
    assert posts["image_hash"].isna().tolist() == [h == "v6" for h in posts.index]

    data = store.load_image_bytes([posts.loc["v1", "image_hash"], posts.loc["v2", "image_hash"]], "data")
    long_still = Image.open(io.BytesIO(data[posts.loc["v1", "image_hash"]]))
    assert long_still.format == "JPEG" and second_shown(long_still) == 15
    assert second_shown(Image.open(io.BytesIO(data[posts.loc["v2", "image_hash"]]))) == 3
    thumbs = store.load_image_bytes([posts.loc["v1", "image_hash"]], "thumb")
    assert second_shown(Image.open(io.BytesIO(thumbs[posts.loc["v1", "image_hash"]]))) == 15

    rejects = store.load_rejects().set_index("post_id")
    assert rejects.loc["v3", "reason"] == "video_corrupt" and rejects.loc["v4", "reason"] == "video_missing"
    assert rejects.loc["v5", "reason"] == "video_outside_root" and rejects.loc["v7", "reason"] == "empty_post"
    assert json.loads(rejects.loc["v3", "raw"])["post_video"] == "clips/broken.mp4"
    assert set(rejects["reason"]) <= set(ingest.REASONS)

    again = ingest.ingest_file(store, tmp_path / "posts.csv", images_dir=media)
    assert again["added"] == 0 and again["reasons"] == summary["reasons"]   # same stills, same hashes


def test_video_column_aliases_and_limits(tmp_path, media, monkeypatch):
    assert ingest.column_map(["视频", "video_url", "post_video"])["video"] == "post_video"  # crawl name first
    assert ingest.column_map(["date", "视频"])["video"] == "视频"
    path = tmp_path / "v.csv"
    path.write_text("date,video_url\n2024-05-01,clips/a.mp4\n", encoding="utf-8")  # a video and no text
    store = Store(tmp_path / "t.duckdb")
    assert ingest.ingest_file(store, path, images_dir=media)["accepted"] == 1
    monkeypatch.setattr(video, "MAX_VIDEO_BYTES", 1000)
    summary = ingest.ingest_file(Store(tmp_path / "t2.duckdb"), path, images_dir=media)
    assert summary["reasons"] == {"video_too_large": 1}
