"""The model file format (firmware's model_format.py, imported from the firmware tree)."""
from __future__ import annotations

import json
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from garment.models import ModelFormatError, from_bytes, modelfile, read_model, to_bytes, write_model
from garment.paths import firmware_lib, mpy_cross_exe

GOLDEN = Path(__file__).parents[2] / "models" / "golden"
MODELS = ["int8_mlp.gmdl", "int8_lda.gmdl", "int8_ridge.gmdl"]
mf = modelfile.fmt()


def _recrc(b: bytes | bytearray) -> bytes:
    b = bytes(b[:-4])
    return b + struct.pack("<I", zlib.crc32(b))


def _sections(b: bytes) -> list[tuple[int, int, int]]:
    """(tag, payload offset, length) of every section."""
    n = struct.unpack_from("<H", b, 12)[0]
    p, out = 16, []
    for _ in range(n):
        tag, _r, ln = struct.unpack_from("<HHI", b, p)
        out.append((tag, p + 8, ln))
        p += 8 + ln
    return out


def _payload(b: bytes, tag: int) -> bytes:
    (off, ln), = [(o, n) for t, o, n in _sections(b) if t == tag]
    return b[off:off + ln]


def _replace_section(b: bytes, tag: int, payload: bytes) -> bytes:
    secs = _sections(b)
    parts = [b[:16]]
    for t, off, ln in secs:
        body = payload if t == tag else b[off:off + ln]
        parts.append(struct.pack("<HHI", t, 0, len(body)) + body)
    body = b"".join(parts)
    body = body[:8] + struct.pack("<I", len(body) + 4) + body[12:]
    return _recrc(body + b"\0\0\0\0")


def test_host_uses_the_firmware_file_itself() -> None:
    assert Path(mf.__file__).resolve() == (firmware_lib() / "garmentfw" / "model_format.py").resolve()


def test_crc32_is_zlib() -> None:
    data = bytes(range(256)) * 3
    assert mf.crc32(data) == zlib.crc32(data) and mf.crc32(b"123456789") == 0xCBF43926


@pytest.mark.parametrize("name", MODELS)
def test_golden_files_roundtrip_byte_identical(name: str) -> None:
    b = (GOLDEN / name).read_bytes()
    assert b[:4] == b"GMDL" and struct.unpack_from("<H", b, 4)[0] == mf.FORMAT_VERSION
    assert len(b) <= 4096  # a few kB at most
    qm = from_bytes(b)
    assert to_bytes(qm) == b
    assert qm.features["n_ch"] * len(qm.features["features"]) == qm.n_in


def test_write_read_atomic(tmp_path: Path) -> None:
    qm = read_model(GOLDEN / "int8_mlp.gmdl", fs=2000, n_ch=8)
    p = tmp_path / "sub" / "m.gmdl"
    n = write_model(p, qm)
    assert n == p.stat().st_size and p.read_bytes() == (GOLDEN / "int8_mlp.gmdl").read_bytes()
    assert [x.name for x in p.parent.iterdir()] == ["m.gmdl"]  # no temp file left


def _err(b: bytes, code: str, **kw: int) -> str:
    with pytest.raises(ModelFormatError) as ei:
        from_bytes(b, **kw)
    assert ei.value.code == code, str(ei.value)
    return str(ei.value)


def test_refusals_header_crc_truncation() -> None:
    good = (GOLDEN / "int8_mlp.gmdl").read_bytes()
    assert "magic" in _err(b"XMDL" + good[4:], "magic")
    bad = bytearray(good)
    bad[4:6] = struct.pack("<H", 3)  # a newer host's file
    assert "version 3 is not supported" in _err(bytes(bad), "version")
    assert "update the firmware" in _err(bytes(bad), "version")
    bad[4:6] = struct.pack("<H", 1)  # written before temporal context (reserved word 0)
    assert "retrain" in _err(bytes(bad), "version")
    bad = bytearray(good)
    bad[100] ^= 1
    assert "CRC-32 mismatch" in _err(bytes(bad), "crc")
    assert "declares" in _err(good[:-1], "truncated")
    _err(good[:5], "truncated")
    _err(b"", "truncated")
    _err(good + b"\0", "length")


def test_refusals_incompatible_garment() -> None:
    good = (GOLDEN / "int8_mlp.gmdl").read_bytes()
    from_bytes(good, fs=2000, n_ch=8)
    msg = _err(good, "incompatible", fs=1000, n_ch=8)
    assert "fs=2000" in msg and "1000 Hz" in msg
    msg = _err(good, "incompatible", fs=2000, n_ch=4)
    assert "8 EMG channels" in msg and "runs 4" in msg


def test_refusals_layer_shape_mismatch() -> None:
    good = (GOLDEN / "int8_mlp.gmdl").read_bytes()
    dense = [s for s in _sections(good) if s[0] == mf.TAG_DENSE]
    assert len(dense) == 2
    _t, off, ln = dense[1]
    bad = bytearray(good)
    bad[off:off + 2] = struct.pack("<H", 15)  # final layer claims 15 inputs, hidden gives 16
    _err(_recrc(bad), "shape")
    # Consistent section sizes but a chain mismatch: rebuild the final layer 16 -> 15 inputs.
    m = mf.parse(good)
    L = m.layers[1]
    w = np.frombuffer(L.weights, np.int8).reshape(L.n_out, L.n_in)[:, :15]
    m.layers[1] = mf.Dense(15, L.n_out, w.tobytes(), L.bias, L.mult, L.shift, L.relu, 32, L.in_zp, 0)
    with pytest.raises(ModelFormatError, match="takes 15 inputs but receives 16"):
        mf.pack(m)
    # Input width that does not match n_ch x features.
    m = mf.parse(good)
    m.features = dict(m.features, n_ch=7)
    with pytest.raises(ModelFormatError, match="input width 40 != n_ch 7 x 5 features"):
        mf.pack(m)


def test_refusals_sections() -> None:
    good = (GOLDEN / "int8_lda.gmdl").read_bytes()
    stim = json.dumps({"preset": "zap", "params": {}}).encode()
    assert "unknown stimulation preset 'zap'" in _err(_replace_section(good, mf.TAG_STIM, stim), "stim")
    stim = json.dumps({"preset": "proportional", "params": {"gain": "high"}}).encode()
    _err(_replace_section(good, mf.TAG_STIM, stim), "stim")
    _err(_replace_section(good, mf.TAG_FEATURES, b"{not json"), "json")
    out = json.loads(_payload(good, mf.TAG_OUTPUT))
    out["labels"] = ["a", "b", "c"]
    assert "3 labels for 2 outputs" in _err(_replace_section(good, mf.TAG_OUTPUT, json.dumps(out).encode()), "shape")
    out["labels"] = ["a", "b"]
    out["vote"] = 0
    _err(_replace_section(good, mf.TAG_OUTPUT, json.dumps(out).encode()), "output")
    fea = {"fs": 2000, "n_ch": 8, "window": 400, "increment": 100}
    _err(_replace_section(good, mf.TAG_FEATURES, json.dumps(fea).encode()), "features")


def test_unknown_sections() -> None:
    good = (GOLDEN / "int8_ridge.gmdl").read_bytes()
    body = good[16:-4]
    for tag, ok in ((0x8123, True), (0x0042, False)):
        extra = struct.pack("<HHI", tag, 0, 3) + b"abc"
        n_sec = struct.unpack_from("<H", good, 12)[0] + 1
        head = struct.pack("<4sHHIHH", b"GMDL", modelfile.fmt().FORMAT_VERSION, 16, 16 + len(body) + len(extra) + 4, n_sec, 0)
        b = _recrc(head + body + extra + b"\0\0\0\0")
        if ok:
            assert from_bytes(b).n_in == 16  # optional sections are skipped
        else:
            assert "unknown mandatory section tag 0x0042" in _err(b, "section")


def test_refusals_ranges() -> None:
    m = mf.parse((GOLDEN / "int8_lda.gmdl").read_bytes())
    L = m.layers[0]
    for kw, msg in (
        (dict(shift=[16] * L.n_out), "shift"),
        (dict(mult=[40000] * L.n_out), "mult"),
        (dict(bias=[mf.BIAS_MAX + 1] * L.n_out), "bias"),
        (dict(weights=b"\x80" + L.weights[1:]), "weight -128"),
    ):
        args = dict(n_in=L.n_in, n_out=L.n_out, weights=L.weights, bias=L.bias, mult=L.mult, shift=L.shift,
                    relu=L.relu, out_bits=L.out_bits, in_zp=L.in_zp, out_zp=L.out_zp)
        args.update(kw)
        m.layers[0] = mf.Dense(**args)
        with pytest.raises(ModelFormatError, match=msg):
            mf.pack(m)


@pytest.mark.parametrize("arch", ["xtensawin", "armv7emsp", "armv6m", "rv32imc"])
def test_model_modules_cross_compile(arch: str, tmp_path: Path) -> None:
    for name in ("model_format", "int8net"):
        src = firmware_lib() / "garmentfw" / f"{name}.py"
        proc = subprocess.run([str(mpy_cross_exe()), f"-march={arch}", "-o", str(tmp_path / f"{name}.mpy"), str(src)],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
