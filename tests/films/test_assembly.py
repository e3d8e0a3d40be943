"""Assembly with real FFmpeg: shots of every size, rate and layout come out in one format,
the join is a stream copy whose timestamps only go forward and whose length is the sum of
the clips to within a frame, subtitles follow the speech, and a clip not in the film's
format is refused before it can spoil the join."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import av
import pytest
from PIL import Image

from atelier.films import assembly
from atelier.films.assembly import AssemblyError, Format, Line, Segment

FMT = Format(width=320, height=176)


def _ffmpeg(*arguments: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-v", "error", *arguments], check=True)


def _seconds(path: Path) -> float:
    with wave.open(str(path)) as audio:
        return audio.getnframes() / audio.getframerate()


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Inputs as workers might send them: differing sizes, rates, layouts and lengths."""
    root = tmp_path_factory.mktemp("media")
    Image.new("RGB", (512, 512), (200, 40, 40)).save(root / "square.png")
    Image.new("RGB", (1024, 288), (40, 200, 40)).save(root / "wide.jpg")
    _ffmpeg("-f", "lavfi", "-i", "testsrc=s=320x240:r=30:d=1.5", "-f", "lavfi", "-i",
            "sine=f=300:d=1.5", "-shortest", str(root / "clip30.mp4"))  # fmt: skip
    _ffmpeg("-f", "lavfi", "-i", "testsrc=s=640x360:r=25:d=3", "-an", str(root / "silent25.mp4"))
    _ffmpeg(
        "-f", "lavfi", "-i", "sine=f=220:d=30", "-ar", "44100", "-ac", "1", str(root / "music.wav")
    )
    _ffmpeg(
        "-f", "lavfi", "-i", "sine=f=500:d=1.3", "-ar", "22050", "-ac", "1", str(root / "line1.wav")
    )
    _ffmpeg(
        "-f", "lavfi", "-i", "sine=f=700:d=2.6", "-ar", "16000", "-ac", "2", str(root / "line2.wav")
    )
    return {p.stem: p for p in root.iterdir()}


def _line(media: dict[str, Path], name: str, text: str) -> Line:
    return Line(media[name], _seconds(media[name]), text, "ANNA")


def _segments(media: dict[str, Path]) -> list[Segment]:
    one, two = _line(media, "line1", "First words."), _line(media, "line2", "Second " * 30)
    return [
        Segment(0, media["square"], True, (one,), 2.0, media["music"]),
        Segment(0, media["clip30"], False, (), 2.0, media["music"]),
        Segment(1, media["wide"], True, (one, two), 2.0, None),
        Segment(2, media["silent25"], False, (two,), 2.0, media["music"]),
    ]


def _packets_go_forward(path: Path) -> None:
    with av.open(str(path)) as container:
        last: dict[int, int] = {}
        for packet in container.demux():
            if packet.dts is None:
                continue
            index = packet.stream.index
            assert packet.dts > last.get(index, -(2**62)), f"dts went back in stream {index}"
            last[index] = packet.dts


@pytest.mark.parametrize("crossfade_s", [0.0, 0.5])
def test_differing_shots_join_into_one_format_by_stream_copy(
    media: dict[str, Path], tmp_path: Path, crossfade_s: float
) -> None:
    segments = _segments(media)
    film = assembly.assemble(segments, tmp_path / "out", tmp_path / "clips", FMT, crossfade_s)
    clips = assembly.clips_of(assembly.with_music_offsets(segments, FMT), crossfade_s)
    expected = sum(clip.frames(FMT) for clip in clips) / FMT.fps
    assert abs(film.duration_s - expected) <= 1 / FMT.fps  # the sum of the clips, ± a frame
    info = assembly.probe_clip(film.video)
    assert (info.width, info.height, info.fps, info.sample_rate, info.channels) == (
        320,
        176,
        24.0,
        48_000,
        2,
    )
    _packets_go_forward(film.video)
    if crossfade_s:  # boundaries are joined inside clips: fewer clips, a shorter film
        assert len(clips) < len(segments)
        no_fades = assembly.clips_of(assembly.with_music_offsets(segments, FMT), 0.0)
        assert expected < sum(clip.frames(FMT) for clip in no_fades) / FMT.fps
    # a line of 210 characters is split over cues of two rows of at most 42
    long_cues = [cue for cue in film.cues if cue.text.startswith("Second")]
    assert all(len(row) <= 42 for cue in film.cues for row in cue.text.split("\n"))
    assert all(cue.text.count("\n") <= 1 for cue in film.cues)
    assert len(film.cues) > 3 and long_cues
    assert film.cues[0].start_s == pytest.approx(assembly.LINE_GAP_S)
    assert film.cues[0].end_s == pytest.approx(assembly.LINE_GAP_S + 1.3, abs=0.01)
    starts = [cue.start_s for cue in film.cues]
    assert starts == sorted(starts) and film.cues[-1].end_s <= film.duration_s
    vtt = film.vtt.read_text()
    assert vtt.startswith("WEBVTT\n\n00:00:00.350 --> 00:00:01.650\nFirst words.\n")
    assert film.srt.read_text().startswith("1\n00:00:00,350 --> 00:00:01,650\nFirst words.\n")
    with Image.open(film.poster) as poster:
        assert (poster.format, poster.size) == ("JPEG", (320, 176))


def test_each_clip_is_encoded_once(media: dict[str, Path], tmp_path: Path) -> None:
    segments = _segments(media)
    first = assembly.assemble(segments, tmp_path / "a", tmp_path / "clips", FMT)
    again = assembly.assemble(segments, tmp_path / "b", tmp_path / "clips", FMT)
    assert (first.clips_encoded, first.clips_reused) == (4, 0)
    assert (again.clips_encoded, again.clips_reused) == (0, 4)
    assert first.video.read_bytes() == again.video.read_bytes()


def test_a_clip_not_in_the_films_format_is_refused(media: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(AssemblyError, match="not in the film's format") as refused:
        assembly.check_clip(media["clip30"], FMT, 1.5)
    assert "width 320" not in str(refused.value) and "fps 30.0 (not 24.0)" in str(refused.value)
    with pytest.raises(AssemblyError, match="not in the film's format"):
        assembly.check_clip(media["silent25"], FMT, 3.0)  # no audio at all


def test_unreadable_shots_fail_with_the_reason(media: dict[str, Path], tmp_path: Path) -> None:
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    with pytest.raises(AssemblyError, match="a picture of scene 1 does not decode"):
        assembly.assemble([Segment(0, junk, True)], tmp_path / "out", tmp_path / "clips", FMT)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    with pytest.raises(AssemblyError, match="clip of scene 2: ffmpeg failed"):
        assembly.assemble([Segment(1, broken, False)], tmp_path / "out", tmp_path / "clips", FMT)
    with pytest.raises(AssemblyError, match="at least one shot"):
        assembly.assemble([], tmp_path / "out", tmp_path / "clips", FMT)


def test_subtitle_times_and_splitting() -> None:
    assert assembly.srt([]) == "" and assembly.webvtt([]) == "WEBVTT\n\n"
    cues = assembly._split(3661.5, 4.0, "word " * 40)
    assert cues[0].start_s == 3661.5 and cues[-1].end_s == pytest.approx(3665.5)
    assert assembly.srt(cues[:1]).startswith("1\n01:01:01,500 --> ")
    assert assembly._split(0, 1, "   ") == []
