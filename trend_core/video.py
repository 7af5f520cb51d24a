"""Video posts: the still that stands for a video (the frame at 15 s, or the middle of a shorter clip).

Decoding uses PyAV (package `av`, FFmpeg bundled in its wheel). Every failure raises VideoRejected
with a reason code ('video_missing', 'video_corrupt', 'video_too_large') that ingest stores as a
rejects row. Work is bounded: file size, frame size and the number of frames decoded per pass.
"""
from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import av
from av.container import InputContainer
from av.video.frame import VideoFrame
from av.video.stream import VideoStream
from PIL import Image

VideoSource = str | os.PathLike | bytes | bytearray | memoryview

VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi", ".flv", ".3gp", ".ts"})
STILL_SECONDS = 15.0              # the still is the frame at this time (the middle of a shorter clip)
MAX_VIDEO_BYTES = 512 * 2**20     # larger files are video_too_large
MAX_FRAME_PIXELS = 40_000_000     # larger frames are video_too_large (8K UHD is 33 MP)
MAX_DECODED_FRAMES = 4_000        # frames decoded per pass, so looping or huge streams stay bounded
END_TOLERANCE_S = 1.0             # a target this close past the last frame takes the last frame
_TIME_EPS = 1e-6                  # float rounding of pts * time_base
# Demuxers FFmpeg may choose when probing: plain containers only. Playlists (HLS, concat) and image
# sequences would open other files, possibly outside the images folder.
DEMUXERS = "mov,mp4,matroska,webm,avi,flv,mpegts,m4v"
_DEMUXER_OPTIONS = {"format_whitelist": DEMUXERS}


class VideoRejected(Exception):
    """A video whose still cannot be taken; `reason` is an ingest REASONS code."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class _EndedEarly(VideoRejected):
    """The frames end before the still time (a truncated file, or a container duration that is off)."""

    def __init__(self, detail: str):
        super().__init__("video_corrupt", detail)


@dataclass(frozen=True)
class VideoStill:
    """The chosen frame (RGB, display rotation applied), its time from the start of the stream and
    the duration the choice was based on (seconds)."""

    image: Image.Image
    seconds: float
    duration: float


@dataclass(frozen=True)
class _Limits:
    max_bytes: int
    max_pixels: int
    max_frames: int


def is_video_name(name: str) -> bool:
    """True when a file name, path or URL ends with a video extension (query and fragment ignored)."""
    text = str(name).strip()
    if "://" in text or text.startswith("//"):
        text = urlsplit(text).path
    return Path(text.split("#", 1)[0]).suffix.lower() in VIDEO_EXTENSIONS


def still_time(duration: float, seconds: float = STILL_SECONDS) -> float:
    """Offset of the still: `seconds` when the clip is at least that long, else its middle."""
    return float(seconds) if duration >= seconds else max(0.0, duration / 2)


def frame_at(source: VideoSource, seconds: float = STILL_SECONDS) -> Image.Image:
    """The RGB frame at `seconds` (the middle of a shorter clip). Raises VideoRejected."""
    return grab_still(source, seconds).image


def grab_still(source: VideoSource, seconds: float = STILL_SECONDS, *, max_bytes: int | None = None,
               max_pixels: int | None = None, max_frames: int | None = None) -> VideoStill:
    """The first frame at or after the still time, decoded accurately (seek to the keyframe before
    it, decode forward). `source` is a path or the file's bytes. Limits default to the module's.
    Raises VideoRejected('video_missing' | 'video_corrupt' | 'video_too_large', detail)."""
    limits = _Limits(MAX_VIDEO_BYTES if max_bytes is None else max_bytes,
                     MAX_FRAME_PIXELS if max_pixels is None else max_pixels,
                     MAX_DECODED_FRAMES if max_frames is None else max_frames)
    try:
        return _grab(source, seconds, limits)
    except VideoRejected:
        raise
    except Exception as exc:  # noqa: BLE001 (FFmpeg / PyAV raise many types on bad data)
        raise VideoRejected("video_corrupt", f"{type(exc).__name__}: {exc}") from exc


def _grab(source: VideoSource, seconds: float, limits: _Limits) -> VideoStill:
    """The still placed by the header's duration, else by the duration found by decoding the
    whole stream (no duration anywhere, or a container duration the frames end before)."""
    with _opened(source, limits) as container:
        still = _still_from_header(container, _video_stream(container, limits), seconds, limits)
    if still is not None:
        return still
    first, duration = _scan(source, limits)
    with _opened(source, limits) as container:
        stream = _video_stream(container, limits)
        frame = _frame_from(container, stream, first + still_time(duration, seconds), limits, seek=False)
        return _still(frame, first, duration)


def _still_from_header(container: InputContainer, stream: VideoStream, seconds: float,
                       limits: _Limits) -> VideoStill | None:
    """The still from the stream's duration (frames ending before it: video_corrupt), else from the
    container's (frames ending before it: None, as some demuxers count it from 0 or estimate it)."""
    start = _start_time(stream, container)
    declared = _stream_duration(stream)
    if declared is not None:
        frame = _frame_from(container, stream, start + still_time(declared, seconds), limits, seek=True)
        return _still(frame, start, declared)
    guessed = _container_duration(container)
    if guessed is None:
        return None
    try:
        frame = _frame_from(container, stream, start + still_time(guessed, seconds), limits, seek=True)
    except _EndedEarly:
        return None
    return _still(frame, start, guessed)


@contextmanager
def _opened(source: VideoSource, limits: _Limits) -> Iterator[InputContainer]:
    """The open container. The file is handed to FFmpeg as a Python file object, so its name is
    never read as an FFmpeg URL or protocol."""
    with _binary(source, limits) as handle:
        try:
            container = av.open(handle, mode="r", options=_DEMUXER_OPTIONS)
        except Exception as exc:  # noqa: BLE001
            raise VideoRejected("video_corrupt", f"not a readable video file (containers: {DEMUXERS}): "
                                                 f"{type(exc).__name__}: {exc}") from exc
        with container:
            yield container


@contextmanager
def _binary(source: VideoSource, limits: _Limits) -> Iterator[BinaryIO]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        _check_size(len(data), limits)
        yield io.BytesIO(data)
        return
    path = Path(source)
    try:
        size = path.stat().st_size
        handle = path.open("rb")
    except OSError as exc:
        raise VideoRejected("video_missing", f"cannot read {path.name}: {exc}") from exc
    with handle:
        _check_size(size, limits)
        yield handle


def _check_size(size: int, limits: _Limits) -> None:
    if size > limits.max_bytes:
        raise VideoRejected("video_too_large", f"{size:,} bytes > {limits.max_bytes:,}")
    if size == 0:
        raise VideoRejected("video_corrupt", "empty file")


def _video_stream(container: InputContainer, limits: _Limits) -> VideoStream:
    if not container.streams.video:
        raise VideoRejected("video_corrupt", f"no video stream ({container.format.name})")
    stream = container.streams.video[0]
    _check_pixels(stream.codec_context.width, stream.codec_context.height, limits)
    return stream


def _check_pixels(width: int, height: int, limits: _Limits) -> None:
    if width * height > limits.max_pixels:
        raise VideoRejected("video_too_large", f"{width}x{height} > {limits.max_pixels:,} pixels")


def _stream_duration(stream: VideoStream) -> float | None:
    """Seconds from the stream's header (MP4 / MOV, MPEG-TS); None when it has none."""
    if stream.duration and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    return None


def _container_duration(container: InputContainer) -> float | None:
    """Seconds from the container (Matroska / WebM segment, AVI, FLV); None when unknown."""
    if container.duration and container.duration > 0:
        return container.duration / av.time_base
    return None


def _start_time(stream: VideoStream, container: InputContainer) -> float:
    if stream.start_time is not None:
        return float(stream.start_time * stream.time_base)
    if container.start_time is not None:
        return container.start_time / av.time_base
    return 0.0


def _decoded(container: InputContainer, stream: VideoStream, limits: _Limits) -> Iterator[VideoFrame]:
    """Decoded frames from the current position; more than max_frames is video_too_large."""
    for count, frame in enumerate(container.decode(stream), start=1):
        if count > limits.max_frames:
            raise VideoRejected("video_too_large", f"more than {limits.max_frames:,} frames to decode")
        _check_pixels(frame.width, frame.height, limits)
        yield frame


def _frame_from(container: InputContainer, stream: VideoStream, target: float, limits: _Limits,
                seek: bool) -> VideoFrame:
    """The first frame whose time is >= target (seconds, stream clock); the last frame when the
    stream ends less than END_TOLERANCE_S before the target."""
    if seek:
        _seek_before(container, stream, target)
    last: VideoFrame | None = None
    for frame in _decoded(container, stream, limits):
        if frame.time is None:
            continue
        if frame.time >= target - _TIME_EPS:
            return frame
        last = frame
    if last is not None and target - float(last.time) <= END_TOLERANCE_S:
        return last
    ends = "no frame decoded" if last is None else f"frames end at {last.time:.2f} s"
    raise _EndedEarly(f"{ends}, before {target:.2f} s (truncated?)")


def _seek_before(container: InputContainer, stream: VideoStream, target: float) -> None:
    """Seek to the keyframe at or before target; a file that cannot seek is decoded from the start."""
    try:
        container.seek(int(target / stream.time_base), stream=stream, backward=True, any_frame=False)
    except av.FFmpegError:
        pass


def _scan(source: VideoSource, limits: _Limits) -> tuple[float, float]:
    """(time of the first frame, duration) found by decoding the whole stream."""
    first = end = None
    with _opened(source, limits) as container:
        stream = _video_stream(container, limits)
        for frame in _decoded(container, stream, limits):
            if frame.time is None:
                continue
            length = float(frame.duration * frame.time_base) if frame.duration else 0.0
            first = frame.time if first is None else min(first, frame.time)
            end = frame.time + length if end is None else max(end, frame.time + length)
    if first is None or end is None:
        raise VideoRejected("video_corrupt", "no frame with a timestamp")
    return first, end - first


def _still(frame: VideoFrame, start: float, duration: float) -> VideoStill:
    image = _upright(frame.to_image().convert("RGB"), frame.rotation)
    return VideoStill(image, round(max(0.0, float(frame.time) - start), 3), duration)


_TRANSPOSE = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180,
              270: Image.Transpose.ROTATE_270}


def _upright(image: Image.Image, rotation: float) -> Image.Image:
    """Apply the display matrix rotation (counter-clockwise degrees, multiples of 90), as players do."""
    step = _TRANSPOSE.get(int(round(rotation)) % 360)
    return image.transpose(step) if step is not None else image
