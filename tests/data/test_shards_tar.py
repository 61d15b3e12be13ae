"""The shard reader's tar parser agrees with ``tarfile`` on every header flavour and refuses damage."""

import io
import tarfile

import pytest

from omnimask.data.tar_stream import tar_members


def _tar(fmt, members, extra=()):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for name in extra:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


LONG = "deep/" * 30 + "000001.chunks.json"  # past ustar's 100 + 155 characters
MEMBERS = [("000000.npy", b"x" * 700), ("a/000001.txt", b""), (LONG, b"[[1,2]]"), ("b" * 120 + "/k.npy", b"y" * 512)]


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_members_match_tarfile(fmt):
    members = MEMBERS if fmt != tarfile.USTAR_FORMAT else MEMBERS[:2] + MEMBERS[3:]  # ustar cannot hold LONG
    data = _tar(fmt, members, extra=["a"])
    assert list(tar_members(io.BytesIO(data))) == members


def test_metadata_members_are_skipped_and_short_reads_are_fine():
    data = _tar(tarfile.USTAR_FORMAT, [("__meta__", b"m"), ("k.npy", b"v" * 1000)])

    class Trickle(io.BytesIO):
        def read(self, n=-1):
            return super().read(min(n, 7))

    assert list(tar_members(Trickle(data))) == [("k.npy", b"v" * 1000)]


def test_damage_is_reported():
    data = _tar(tarfile.USTAR_FORMAT, [("k.npy", b"v" * 1000)])
    with pytest.raises(EOFError, match="inside member"):
        list(tar_members(io.BytesIO(data[:1200])))
    with pytest.raises(EOFError, match="inside a header"):
        list(tar_members(io.BytesIO(data[:100])))
    flipped = bytearray(data)
    flipped[10] ^= 1
    with pytest.raises(ValueError, match="checksum"):
        list(tar_members(io.BytesIO(bytes(flipped))))
    assert list(tar_members(io.BytesIO(data[:1536]))) == [("k.npy", b"v" * 1000)]  # no end blocks: fine
