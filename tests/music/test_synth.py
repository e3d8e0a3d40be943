"""The procedural music backend under a hostile floating-point state: a native library that
leaves MMX registers in use (no EMMS) makes the next x87 operation answer NaN. The synth must
not depend on the x87 unit, and audio that is not numbers must never be written."""

from __future__ import annotations

import ctypes
import mmap
import platform
import wave
from pathlib import Path

import numpy as np
import pytest

from atelier.generators.music import synthesize, write_wav

PXOR_MM0_RET = bytes.fromhex("0fefc0c3")  # pxor mm0, mm0; ret (and no emms)


def _leave_mmx_state() -> None:
    """Run four bytes of machine code that use an MMX register and return without EMMS,
    as a careless native library does (in this thread: x87 state is per thread)."""
    code = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    code.write(PXOR_MM0_RET)
    address = ctypes.addressof(ctypes.c_char.from_buffer(code))
    ctypes.CFUNCTYPE(None)(address)()


@pytest.mark.skipif(platform.machine() != "x86_64", reason="MMX is an x86-64 matter")
def test_music_survives_a_library_that_leaves_mmx_state() -> None:
    t = np.arange(8) / 44_100
    _leave_mmx_state()
    with np.errstate(invalid="ignore"):
        assert np.isnan((110.0 * t) % 1.0).any()  # the hazard is real in this process
    _leave_mmx_state()
    left, right = synthesize({"genre": "synthwave", "seed": 5, "duration_s": 1.0}, print)
    assert np.isfinite(left).all() and np.isfinite(right).all()
    assert 0.5 < float(np.abs(left).max()) <= 0.9


def test_audio_that_is_not_numbers_is_never_written(tmp_path: Path) -> None:
    left, right = synthesize({"genre": "jazz", "seed": 1, "duration_s": 0.5}, lambda _: None)
    written = tmp_path / "ok.wav"
    write_wav(written, left, right)
    with wave.open(str(written)) as handle:
        assert handle.getnframes() == left.size and handle.getnchannels() == 2
    left[10] = np.nan
    with pytest.raises(ValueError, match="not numbers"):
        write_wav(tmp_path / "bad.wav", left, right)
    assert not (tmp_path / "bad.wav").exists()
