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


def test_npy_columns_decode_like_members_and_fall_back_on_mixed_headers():
    import numpy as np

    from omnimask.data.shard_reader import npy_column
    from omnimask.data.shards import decode, encode

    rng = np.random.default_rng(0)
    for arrays in (
        [rng.integers(0, 9, (2, 3)).astype(">u2") for _ in range(3)],
        [rng.standard_normal(4).astype(np.float32) for _ in range(2)],
        [np.asfortranarray(rng.integers(0, 9, (2, 3))) for _ in range(2)],  # decoded F-order: one by one
    ):
        datas = [encode("npy", a) for a in arrays]
        column = npy_column(datas)
        if arrays[0].flags.c_contiguous:
            assert column is not None and all(c.flags.writeable for c in column)
            for got, data in zip(column, datas):
                want = decode("npy", data)
                assert got.dtype == want.dtype and got.shape == want.shape
                np.testing.assert_array_equal(got, want)
        else:
            assert column is None
    mixed = [encode("npy", np.arange(3)), encode("npy", np.arange(4))]
    assert npy_column(mixed) is None
    assert npy_column([encode("npy", np.int64(5))]) is None  # 0-d values decode one by one


def test_a_damaged_size_field_is_reported_as_a_checksum_error():
    data = bytearray(_tar(tarfile.USTAR_FORMAT, [("k.npy", b"v" * 1000), ("l.npy", b"w" * 10)]))
    data[124 + 5] = ord("7")  # the size now points past the end of the stream
    with pytest.raises(ValueError, match="checksum"):
        list(tar_members(io.BytesIO(bytes(data))))


def test_other_spellings_of_number_fields_are_read():
    data = bytearray(_tar(tarfile.USTAR_FORMAT, [("k.npy", b"v" * 1000)]))
    data[124:136] = b"   1750 \0\0\0\0"  # size 1000 with blanks, as some writers pad it
    data[148:156] = b" " * 8
    data[148:156] = b"%07o\0" % sum(data[:512])  # 7 digits + NUL instead of 6 + NUL + space
    assert list(tar_members(io.BytesIO(bytes(data)))) == [("k.npy", b"v" * 1000)]
