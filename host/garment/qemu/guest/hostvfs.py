# Runs in the emulated board (sent over the raw REPL by garment.qemu.machine): the
# host's folder ROOT, read-only, mounted at "/" through the `hostfile` semihosting
# module, and a writable littlefs in RAM at "/tmp" (what the firmware's store and the
# tests write). Files open as buffered streams (`hostfile.open`), so reading a golden
# vector file of a few 100 kB never needs one heap block that large.
import os

import hostfile
import vfs


def _norm(cwd, path):
    parts = [] if path.startswith("/") else [p for p in cwd.split("/") if p]
    for p in path.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if parts:
                parts.pop()
        else:
            parts.append(p)
    return "/" + "/".join(parts)


class HostVfs:
    def __init__(self, root):
        self.root = root.rstrip("/")
        self.cwd = "/"

    def mount(self, readonly, mkfs):
        pass

    def umount(self):
        pass

    def _host(self, path):
        return self.root + _norm(self.cwd, path)

    def open(self, path, mode):
        if "w" in mode or "a" in mode or "+" in mode:
            raise OSError(30)  # EROFS: the host's files are read-only to the guest
        return hostfile.open(self._host(path), "b" not in mode)

    def stat(self, path):
        try:
            n = hostfile.size(self._host(path))
            return (0x8000, 0, 0, 0, 0, 0, n, 0, 0, 0)
        except OSError as e:
            if e.errno == 21:
                return (0x4000, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            raise

    def chdir(self, path):
        self.cwd = _norm(self.cwd, path)

    def getcwd(self):
        return self.cwd

    def ilistdir(self, path):
        raise OSError(95)  # EOPNOTSUPP: semihosting lists no folders

    def statvfs(self, path):
        return (512, 512, 0, 0, 0, 0, 0, 0, 0, 255)


class _RamBdev:
    def __init__(self, n):
        self.data = bytearray(512 * n)

    def readblocks(self, b, buf, off=0):
        a = b * 512 + off
        buf[:] = memoryview(self.data)[a:a + len(buf)]

    def writeblocks(self, b, buf, off=0):
        a = b * 512 + off
        self.data[a:a + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return len(self.data) // 512
        if op == 5:
            return 512
        if op == 6:
            return 0


def setup(root, tmp_blocks):
    vfs.mount(HostVfs(root), "/")
    bd = _RamBdev(tmp_blocks)
    vfs.VfsLfs2.mkfs(bd)
    vfs.mount(vfs.VfsLfs2(bd), "/tmp")
