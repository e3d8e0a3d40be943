"""A film from its finished shots: each clip encoded once, then joined without a second encode.

- A *segment* is one shot's picture with the lines spoken over it and its slice of the
  scene's music. Its length is the shot's length, or longer when its lines need it, rounded
  up to whole frames, so picture and sound end together.
- Each *clip* is rendered once, by one FFmpeg run, into the film's one format (`Format`:
  H.264 yuv420p at a fixed frame rate and time base, AAC stereo at 48 kHz): stills are held,
  clips are scaled, padded and frozen on their last frame, speech of any rate is resampled.
  Without transitions a clip is one segment. With `crossfade_s`, the segments on either
  side of a scene boundary are rendered together with a crossfade, so cuts inside a scene
  stay cuts and no boundary costs a second encode.
- Every clip is checked against the format before the join (`check_clip`): a clip whose
  codec, size, frame rate, time base or audio layout differs would make the concat demuxer
  write non-monotonic timestamps or a wrong duration, so it is refused instead.
- The clips are joined with FFmpeg's concat demuxer by stream copy: the film's duration
  is the sum of the clips' (to within a frame), at the cost of copying bytes.
- Subtitles come from the placed lines: each cue starts when its line starts and lasts as
  long as its audio, long lines split over several cues by their share of characters.

Clips are cached by a key over the format and their inputs' bytes (`Segment.key`), so an
assembly that is run again (after a crash, or for a film sharing shots) encodes nothing it
already encoded.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

FFMPEG_TIMEOUT_S = 1800  # a join or a poster (stream copy: minutes even for a feature)
CLIP_TIMEOUT_S, CLIP_TIMEOUT_PER_S = 60.0, 20.0  # a clip: a minute, and 20 s per second
LINE_GAP_S = 0.35  # silence before each line of a segment
MUSIC_VOLUME = 0.25  # the score under the voices
CUE_WIDTH, CUE_ROWS = 42, 2  # a subtitle: at most two rows of 42 characters


class AssemblyError(Exception):
    """A clip that cannot be made or joined; the message says which and why."""


@dataclass(frozen=True)
class Format:
    """What every clip of a film is encoded to, so that they join by stream copy."""

    width: int = 768
    height: int = 432
    fps: int = 24
    sample_rate: int = 48_000
    crf: int = 23

    @property
    def timescale(self) -> int:
        return self.fps * 1000

    def frames(self, seconds: float) -> int:
        return max(1, math.ceil(round(seconds * self.fps, 6)))

    def seconds(self, frames: int) -> float:
        return frames / self.fps


@dataclass(frozen=True)
class Line:
    """A line of dialogue: its speech audio, how long it is, and its words."""

    audio: Path
    seconds: float
    text: str
    character: str


@dataclass(frozen=True)
class Segment:
    """One shot on screen: a still or a clip, the lines heard over it, and its scene."""

    scene: int
    picture: Path
    still: bool
    lines: tuple[Line, ...] = ()
    min_seconds: float = 4.0
    music: Path | None = None  # the scene's cue
    music_offset_s: float = 0.0  # where in the cue this segment starts

    def frames(self, fmt: Format) -> int:
        spoken = sum(LINE_GAP_S + line.seconds for line in self.lines)
        return fmt.frames(max(self.min_seconds, spoken + (LINE_GAP_S if self.lines else 0)))

    def line_starts(self) -> list[float]:
        starts, at = [], 0.0
        for line in self.lines:
            at += LINE_GAP_S
            starts.append(at)
            at += line.seconds
        return starts


@dataclass(frozen=True)
class Clip:
    """Segments rendered together (more than one only across a crossfaded boundary)."""

    segments: tuple[Segment, ...]
    crossfade_s: float

    def frames(self, fmt: Format) -> int:
        overlap = fmt.frames(self.crossfade_s) if len(self.segments) > 1 else 0
        total = sum(s.frames(fmt) for s in self.segments)
        return total - overlap * (len(self.segments) - 1)

    def key(self, fmt: Format, digests: dict[Path, str]) -> str:
        """The clip's cache key: the format and everything that goes into it, by content."""
        described = {
            "format": [fmt.width, fmt.height, fmt.fps, fmt.sample_rate, fmt.crf],
            "crossfade": self.crossfade_s,
            "segments": [
                {
                    "picture": digests[s.picture],
                    "still": s.still,
                    "frames": s.frames(fmt),
                    "lines": [digests[line.audio] for line in s.lines],
                    "music": digests[s.music] if s.music else None,
                    "music_offset": round(s.music_offset_s, 3),
                }
                for s in self.segments
            ],
        }
        return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    text: str


@dataclass
class Film:
    """What `assemble` made: the MP4, its length, its subtitles and poster."""

    video: Path
    duration_s: float
    srt: Path
    vtt: Path
    poster: Path
    cues: list[Cue] = field(default_factory=list)
    clips_encoded: int = 0
    clips_reused: int = 0


def with_music_offsets(segments: Sequence[Segment], fmt: Format) -> list[Segment]:
    """Each segment's offset into its scene's cue: the length of the scene before it."""
    placed: list[Segment] = []
    scene, offset = None, 0.0
    for segment in segments:
        if segment.scene != scene:
            scene, offset = segment.scene, 0.0
        placed.append(replace(segment, music_offset_s=offset))
        offset += fmt.seconds(segment.frames(fmt))
    return placed


def clips_of(segments: Sequence[Segment], crossfade_s: float) -> list[Clip]:
    """Group segments into clips: one per segment, or runs joined at scene boundaries."""
    clips: list[list[Segment]] = []
    for segment in segments:
        joins = (
            crossfade_s > 0
            and clips
            and clips[-1][-1].scene != segment.scene
            and _long_enough(clips[-1][-1], segment, crossfade_s)
        )
        if joins:  # a scene of one segment is on two boundaries: its clip takes three
            clips[-1].append(segment)
        else:
            clips.append([segment])
    return [Clip(tuple(group), crossfade_s) for group in clips]


def _long_enough(left: Segment, right: Segment, crossfade_s: float) -> bool:
    return min(left.min_seconds, right.min_seconds) > 2 * crossfade_s


def cues_of(segments: Sequence[Segment], clips: Sequence[Clip], fmt: Format) -> list[Cue]:
    """Subtitle cues, timed from where each segment starts in the joined film."""
    starts: dict[int, float] = {}
    at_frame, index = 0, 0
    for clip in clips:
        overlap = fmt.frames(clip.crossfade_s) if len(clip.segments) > 1 else 0
        frame = at_frame
        for segment in clip.segments:
            starts[index] = fmt.seconds(frame)
            frame += segment.frames(fmt) - overlap
            index += 1
        at_frame += clip.frames(fmt)
    cues: list[Cue] = []
    for number, segment in enumerate(segments):
        for start, line in zip(segment.line_starts(), segment.lines, strict=True):
            cues.extend(_split(starts[number] + start, line.seconds, line.text))
    return cues


def _split(start: float, seconds: float, text: str) -> list[Cue]:
    words = " ".join(text.split())
    if not words:
        return []
    rows = textwrap.wrap(words, CUE_WIDTH)
    chunks = ["\n".join(rows[i : i + CUE_ROWS]) for i in range(0, len(rows), CUE_ROWS)]
    total = sum(len(c) for c in chunks)
    cues, at = [], start
    for chunk in chunks:
        share = seconds * len(chunk) / total
        cues.append(Cue(round(at, 3), round(at + share, 3), chunk))
        at += share
    return cues


def _stamp(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def srt(cues: Iterable[Cue]) -> str:
    blocks = [
        f"{n}\n{_stamp(c.start_s, ',')} --> {_stamp(c.end_s, ',')}\n{c.text}\n"
        for n, c in enumerate(cues, 1)
    ]
    return "\n".join(blocks)


def webvtt(cues: Iterable[Cue]) -> str:
    blocks = [f"{_stamp(c.start_s, '.')} --> {_stamp(c.end_s, '.')}\n{c.text}\n" for c in cues]
    return "WEBVTT\n\n" + "\n".join(blocks)


# -- FFmpeg ----------------------------------------------------------------------------------


def ffmpeg_binary() -> str:
    binary = shutil.which("ffmpeg")
    if binary is None:
        raise AssemblyError("ffmpeg is not installed (apt-get install ffmpeg)")
    return binary


def run_ffmpeg(
    arguments: list[str], workdir: Path, what: str, timeout_s: float = FFMPEG_TIMEOUT_S
) -> None:
    log = workdir / "ffmpeg.log"
    with log.open("wb") as errors:  # a file: a full stderr pipe would deadlock
        try:
            done = subprocess.run(  # noqa: S603 - the ffmpeg binary, list argv
                [ffmpeg_binary(), "-nostdin", "-y", "-v", "error", *arguments],
                stdout=subprocess.DEVNULL,
                stderr=errors,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise AssemblyError(f"{what}: ffmpeg ran past {timeout_s:g} s") from None
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-600:]
        raise AssemblyError(f"{what}: ffmpeg failed: {tail}")


def _count_inputs(arguments: list[str]) -> int:
    return arguments.count("-i")


def _segment_graph(segment: Segment, n: int, inputs: list[str], fmt: Format) -> list[str]:
    """The filters that make segment `n`'s picture `[vN]` and sound `[aN]` from `inputs`."""
    seconds = fmt.seconds(segment.frames(fmt))
    picture = _count_inputs(inputs)
    if segment.still:
        inputs += ["-loop", "1", "-framerate", str(fmt.fps), "-i", str(segment.picture)]
    else:
        inputs += ["-i", str(segment.picture)]
    size = f"{fmt.width}:{fmt.height}"
    graph = [
        f"[{picture}:v]scale={size}:force_original_aspect_ratio=decrease,"
        f"pad={size}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={fmt.fps},format=yuv420p,"
        f"tpad=stop_mode=clone:stop_duration={seconds:.3f},"
        f"trim=duration={seconds:.6f},setpts=PTS-STARTPTS[v{n}]"
    ]
    voices = []
    layout = f"aresample={fmt.sample_rate},aformat=sample_fmts=fltp:channel_layouts=stereo"
    for k, (start, line) in enumerate(zip(segment.line_starts(), segment.lines, strict=True)):
        index = _count_inputs(inputs)
        inputs += ["-i", str(line.audio)]
        delay = round(start * 1000)
        graph.append(f"[{index}:a]{layout},adelay={delay}|{delay}[l{n}_{k}]")
        voices.append(f"[l{n}_{k}]")
    if segment.music is not None:
        index = _count_inputs(inputs)
        inputs += ["-ss", f"{segment.music_offset_s:.3f}", "-i", str(segment.music)]
        graph.append(f"[{index}:a]{layout},volume={MUSIC_VOLUME}[m{n}]")
        voices.append(f"[m{n}]")
    if not voices:
        graph.append(f"anullsrc=r={fmt.sample_rate}:cl=stereo[s{n}]")
        voices.append(f"[s{n}]")
    graph.append(
        f"{''.join(voices)}amix=inputs={len(voices)}:normalize=0:duration=longest,{layout},"
        f"apad,atrim=duration={seconds:.6f},asetpts=N/SR/TB[a{n}]"
    )
    return graph


def _check_still(path: Path, scene: int) -> None:
    """A still must decode before FFmpeg loops it: FFmpeg's image loop spins forever on
    some broken files instead of failing."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise AssemblyError(f"a picture of scene {scene + 1} does not decode: {exc}") from None


def render_clip(clip: Clip, fmt: Format, out: Path, workdir: Path) -> None:
    """Encode `clip` into `out` in the film's format (the only encode its frames get)."""
    for segment in clip.segments:
        if segment.still:
            _check_still(segment.picture, segment.scene)
    inputs: list[str] = []
    graph: list[str] = []
    for n, segment in enumerate(clip.segments):
        graph += _segment_graph(segment, n, inputs, fmt)
    video, audio = "[v0]", "[a0]"
    if len(clip.segments) > 1:
        fade = fmt.seconds(fmt.frames(clip.crossfade_s))
        elapsed = 0.0
        for n in range(1, len(clip.segments)):
            elapsed += fmt.seconds(clip.segments[n - 1].frames(fmt)) - fade
            graph.append(
                f"{video}[v{n}]xfade=transition=fade:duration={fade:.6f}:"
                f"offset={elapsed:.6f}[vx{n}]"
            )
            graph.append(f"{audio}[a{n}]acrossfade=d={fade:.6f}[ax{n}]")
            video, audio = f"[vx{n}]", f"[ax{n}]"
    frames = clip.frames(fmt)
    arguments = [
        *inputs,
        "-filter_complex",
        ";".join(graph),
        "-map",
        video,
        "-map",
        audio,
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        str(fmt.crf),
        "-pix_fmt",
        "yuv420p",
        "-r",
        str(fmt.fps),
        "-video_track_timescale",
        str(fmt.timescale),
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        "-ar",
        str(fmt.sample_rate),
        "-ac",
        "2",
        "-t",  # a bound, past the trims: an input that never ends cannot keep FFmpeg going
        f"{fmt.seconds(frames) + 1:.3f}",
        "-movflags",
        "+faststart",
        str(out),
    ]
    seconds = fmt.seconds(frames)
    what = f"clip of scene {clip.segments[0].scene + 1}"
    run_ffmpeg(arguments, workdir, what, CLIP_TIMEOUT_S + CLIP_TIMEOUT_PER_S * seconds)
    check_clip(out, fmt, seconds)


@dataclass(frozen=True)
class ClipInfo:
    video_codec: str
    width: int
    height: int
    fps: float
    time_base: str
    pix_fmt: str
    audio_codec: str
    sample_rate: int
    channels: int
    duration_s: float


def probe_clip(path: Path) -> ClipInfo:
    """A clip's stream parameters (a missing stream reads as codec `none`)."""
    import av

    try:
        with av.open(str(path)) as container:
            video = container.streams.video[0] if container.streams.video else None
            audio = container.streams.audio[0] if container.streams.audio else None
            return ClipInfo(
                video.codec_context.name if video else "none",
                video.codec_context.width if video else 0,
                video.codec_context.height if video else 0,
                float(video.base_rate or video.average_rate or 0) if video else 0.0,
                str(video.time_base) if video else "",
                str(video.codec_context.pix_fmt) if video else "",
                audio.codec_context.name if audio else "none",
                audio.codec_context.sample_rate if audio else 0,
                audio.codec_context.channels if audio else 0,
                float(container.duration or 0) / 1_000_000,
            )
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise AssemblyError(f"{path.name} does not open as a clip: {exc}") from None


def check_clip(path: Path, fmt: Format, seconds: float) -> None:
    """Refuse a clip that would not join cleanly by stream copy."""
    info = probe_clip(path)
    expected = ClipInfo(
        "h264",
        fmt.width,
        fmt.height,
        float(fmt.fps),
        f"1/{fmt.timescale}",
        "yuv420p",
        "aac",
        fmt.sample_rate,
        2,
        info.duration_s,
    )
    if info != expected:
        wrong = [
            f"{name} {getattr(info, name)} (not {getattr(expected, name)})"
            for name in expected.__dataclass_fields__
            if getattr(info, name) != getattr(expected, name)
        ]
        raise AssemblyError(f"{path.name} is not in the film's format: {', '.join(wrong)}")
    if abs(info.duration_s - seconds) > 1.5 / fmt.fps:
        raise AssemblyError(f"{path.name} lasts {info.duration_s:.3f} s, not {seconds:.3f} s")


def concat(clips: Sequence[Path], out: Path, workdir: Path) -> None:
    """Join clips of one format by stream copy (FFmpeg's concat demuxer)."""
    listing = workdir / "clips.txt"
    listing.write_text("".join(f"file '{c.resolve()}'\n" for c in clips), encoding="utf-8")
    arguments = ["-f", "concat", "-safe", "0", "-i", str(listing), "-map", "0:v", "-map", "0:a"]
    arguments += ["-c", "copy", "-movflags", "+faststart", str(out)]
    run_ffmpeg(arguments, workdir, "join")


def poster(video: Path, at_s: float, out: Path, workdir: Path) -> None:
    arguments = ["-ss", f"{at_s:.3f}", "-i", str(video), "-frames:v", "1", "-q:v", "3"]
    run_ffmpeg([*arguments, str(out)], workdir, "poster")


def digests_of(segments: Sequence[Segment]) -> dict[Path, str]:
    paths = {s.picture for s in segments} | {s.music for s in segments if s.music}
    paths |= {line.audio for s in segments for line in s.lines}
    return {path: _sha256(path) for path in paths}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def assemble(
    segments: Sequence[Segment],
    out_dir: Path,
    cache_dir: Path,
    fmt: Format = Format(),
    crossfade_s: float = 0.0,
) -> Film:
    """The film from its segments, in order: clips (reused from `cache_dir` when already
    encoded), joined by stream copy, with subtitles and a poster, written into `out_dir`."""
    if not segments:
        raise AssemblyError("a film needs at least one shot")
    placed = with_music_offsets(segments, fmt)
    clips = clips_of(placed, crossfade_s)
    digests = digests_of(placed)
    cache_dir.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths, encoded, reused = [], 0, 0
    with tempfile.TemporaryDirectory(dir=out_dir) as scratch:
        workdir = Path(scratch)
        for clip in clips:
            cached = cache_dir / f"{clip.key(fmt, digests)}.mp4"
            if cached.exists():
                reused += 1
            else:
                partial = workdir / cached.name
                render_clip(clip, fmt, partial, workdir)
                partial.replace(cached)  # whole clips only: a crash leaves no half clip
                encoded += 1
            paths.append(cached)
        video = out_dir / "film.mp4"
        concat(paths, video, workdir)
        duration = probe_clip(video).duration_s
        first = fmt.seconds(clips[0].segments[0].frames(fmt))
        still = out_dir / "poster.jpg"
        poster(video, min(first / 2, duration / 2), still, workdir)
    cues = cues_of(placed, clips, fmt)
    subtitles_srt, subtitles_vtt = out_dir / "film.srt", out_dir / "film.vtt"
    subtitles_srt.write_text(srt(cues), encoding="utf-8")
    subtitles_vtt.write_text(webvtt(cues), encoding="utf-8")
    return Film(video, duration, subtitles_srt, subtitles_vtt, still, cues, encoded, reused)
