# Persistent state (model, calibration, keys) written atomically and verified.
#
# A record on flash is: payload | crc32(payload) u32 LE | magic b"GST1". save() writes
# it to NAME.tmp, flushes, then renames over NAME: a power cut leaves either the old
# or the new record, never a mix. load() verifies the CRC before anyone sees a byte.
# The previous record is kept as NAME.prev for rollback.
import os
import struct
from binascii import crc32

_MAGIC = b"GST1"
_TRAILER = 8


class StoreError(Exception):
    pass


def _exists(path) -> bool:
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _remove(path) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


class Store:
    """A folder of verified records. ``root`` is "/data" on boards, a temp dir in tests."""

    def __init__(self, root: str):
        self.root = root
        try:
            os.mkdir(root)
        except OSError:
            pass
        # A temp file left by a cut during save() is garbage by definition; a record
        # whose save was cut between its two renames exists only as NAME.prev: restore it.
        names = os.listdir(root)
        for name in names:
            if name.endswith(".tmp"):
                _remove(root + "/" + name)
        for name in names:
            if name.endswith(".prev") and name[:-5] not in names:
                os.rename(root + "/" + name, root + "/" + name[:-5])
        # A rollback cut between its renames (NAME -> .swap, .prev -> NAME, .swap -> .prev)
        # left NAME.swap: after the rule above NAME is the rolled-back record, so .swap
        # is the previous one (the rollback completes).
        names = os.listdir(root)
        for name in names:
            if name.endswith(".swap"):
                base = name[:-5]
                if base not in names:
                    os.rename(root + "/" + name, root + "/" + base)  # the only copy left
                elif base + ".prev" not in names:
                    os.rename(root + "/" + name, root + "/" + base + ".prev")
                else:
                    _remove(root + "/" + name)

    def path(self, name: str) -> str:
        return self.root + "/" + name

    def save(self, name: str, payload, keep_previous: bool = True) -> None:
        path = self.path(name)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(payload)
            f.write(struct.pack("<I", crc32(payload) & 0xFFFFFFFF))
            f.write(_MAGIC)
            f.flush()
        self.verify_file(tmp)  # read back before it replaces anything
        if keep_previous and _exists(path):
            _remove(path + ".prev")
            os.rename(path, path + ".prev")
        os.rename(tmp, path)

    def save_from_file(self, name: str, src: str, keep_previous: bool = True) -> None:
        """Promote an already-written record file (e.g. an upload) to NAME atomically."""
        self.verify_file(src)
        path = self.path(name)
        if keep_previous and _exists(path):
            _remove(path + ".prev")
            os.rename(path, path + ".prev")
        os.rename(src, path)

    @staticmethod
    def verify_file(path: str) -> int:
        """CRC-check a record file; returns the payload length or raises StoreError."""
        try:
            size = os.stat(path)[6]
        except OSError:
            raise StoreError("%s: missing" % path)
        if size < _TRAILER:
            raise StoreError("%s: truncated" % path)
        crc = 0
        n = size - _TRAILER
        buf = bytearray(256)
        mv = memoryview(buf)
        with open(path, "rb") as f:
            left = n
            while left:
                k = f.readinto(mv[: min(left, 256)])
                if not k:
                    raise StoreError("%s: short read" % path)
                crc = crc32(mv[:k], crc)
                left -= k
            tail = f.read(_TRAILER)
        if tail[4:] != _MAGIC:
            raise StoreError("%s: not a store record" % path)
        if struct.unpack("<I", tail[:4])[0] != crc & 0xFFFFFFFF:
            raise StoreError("%s: CRC mismatch" % path)
        return n

    def load(self, name: str, previous: bool = False):
        """The verified payload of NAME (or NAME.prev), or None if there is none."""
        path = self.path(name) + (".prev" if previous else "")
        if not _exists(path):
            return None
        n = self.verify_file(path)
        with open(path, "rb") as f:
            return f.read(n)

    def rollback(self, name: str) -> None:
        """Make NAME.prev the current record again (the current one becomes .prev)."""
        path = self.path(name)
        prev = path + ".prev"
        self.verify_file(prev)
        tmp = path + ".swap"
        if _exists(path):
            os.rename(path, tmp)
        os.rename(prev, path)
        if _exists(tmp):
            os.rename(tmp, prev)

    def delete(self, name: str) -> None:
        _remove(self.path(name))
        _remove(self.path(name) + ".prev")
