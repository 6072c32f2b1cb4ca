"""The IDX file format of MNIST and Fashion-MNIST: one array per file, gzip-compressed or not."""

import gzip
import struct
import zlib

import numpy as np

from dcgan.errors import UserError, reason


def read_idx(path):
    """Reads one IDX file (the MNIST format), gzip-compressed or not, into an array.

    Raises:
        UserError naming the file when it cannot be read or its size disagrees with its
        header.
    """
    try:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise UserError(f"{path}: cannot read IDX file ({reason(e)}); download it again") from e
    # Header: two zero bytes, a type code, the number of dimensions, then each dimension
    # as a big-endian uint32.
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in _IDX_TYPES or data[3] == 0:
        raise UserError(f"{path}: not an IDX file (bad magic number); download it again")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise UserError(f"{path}: truncated IDX header; download it again")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_TYPES[data[2]])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise UserError(
            f"{path}: corrupt IDX file: header says shape {dims} ({expected} bytes) but "
            f"{len(data) - header} bytes follow; download it again"
        )
    # A copy owns its memory and is writable, unlike a view of the bytes read.
    return np.frombuffer(data, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


_IDX_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
