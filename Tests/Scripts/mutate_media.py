#!/usr/bin/env python3
"""Seeded mutations of valid media files, for the worker's fuzz test.

usage: mutate_media.py SEED COUNT OUTDIR SOURCE...

Writes COUNT files OUTDIR/fuzz-NNNN.<ext>, each one mutation of one SOURCE picked in turn.
The same seed and sources always give the same files. The mutation kinds:
  bitflip    flip 1-64 random bits
  truncate   cut the file at a random point
  boxsize    MP4/MOV: overwrite a box's 32-bit size (0, 1, tiny, huge, random)
  boxcount   MP4/MOV: overwrite an entry count inside stsz/stco/stts/stsc/stss
  ebmlsize   Matroska/WebM: overwrite an element's size bytes
  swap       swap two aligned blocks (188-byte packets for MPEG-TS, 1 KiB otherwise)
  zero       zero a random run of bytes
Prints one line per file: name, source, kind.
"""
import os
import random
import struct
import sys

COUNT_BOXES = {b"stsz": 8, b"stco": 4, b"co64": 4, b"stts": 4, b"stsc": 4, b"stss": 4, b"ctts": 4}


def mp4_boxes(data, start=0, end=None, depth=0, out=None):
    """(offset, size, type) of every box, descending into containers."""
    out = [] if out is None else out
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end and depth < 8:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if size < 8 or pos + size > end:
            break
        out.append((pos, size, kind))
        if kind in (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf", b"udta", b"mvex", b"moof", b"traf"):
            mp4_boxes(data, pos + 8, pos + size, depth + 1, out)
        pos += size
    return out


def ebml_size_offsets(data, limit=4096):
    """Offsets of plausible EBML size fields (the byte after a known element ID)."""
    ids = [b"\x1a\x45\xdf\xa3", b"\x18\x53\x80\x67", b"\x16\x54\xae\x6b", b"\x1f\x43\xb6\x75", b"\xa3", b"\xa0", b"\xae"]
    offsets = []
    for ident in ids:
        pos = data.find(ident)
        while pos >= 0 and len(offsets) < limit:
            offsets.append(pos + len(ident))
            pos = data.find(ident, pos + 1)
    return offsets


def mutate(data, ext, rng):
    data = bytearray(data)
    kinds = ["bitflip", "truncate", "swap", "zero"]
    if ext in (".mp4", ".mov"):
        kinds += ["boxsize", "boxcount", "boxsize", "boxcount"]
    if ext in (".mkv", ".webm"):
        kinds += ["ebmlsize", "ebmlsize"]
    kind = rng.choice(kinds)
    n = len(data)
    if kind == "bitflip":
        for _ in range(rng.randint(1, 64)):
            i = rng.randrange(n)
            data[i] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        data = data[:rng.randrange(1, n)]
    elif kind == "zero":
        i = rng.randrange(n)
        data[i:i + rng.randint(1, 4096)] = bytes(min(n - i, rng.randint(1, 4096)))
    elif kind == "swap":
        block = 188 if ext == ".ts" else 1024
        blocks = n // block
        if blocks >= 2:
            a, b = rng.sample(range(blocks), 2)
            pa, pb = data[a * block:(a + 1) * block], data[b * block:(b + 1) * block]
            data[a * block:(a + 1) * block], data[b * block:(b + 1) * block] = pb, pa
    elif kind == "boxsize":
        boxes = mp4_boxes(bytes(data))
        if boxes:
            pos, size, _ = rng.choice(boxes)
            value = rng.choice([0, 1, 7, 8, 0xFFFFFFFF, 0x7FFFFFFF, size + rng.randint(1, 1 << 20), rng.randrange(1 << 32)])
            data[pos:pos + 4] = struct.pack(">I", value & 0xFFFFFFFF)
    elif kind == "boxcount":
        boxes = [b for b in mp4_boxes(bytes(data)) if b[2] in COUNT_BOXES]
        if boxes:
            pos, size, box = rng.choice(boxes)
            at = pos + 8 + COUNT_BOXES[box]
            if at + 4 <= pos + size:
                value = rng.choice([0, 1, 0xFFFFFFFF, 0x10000000, rng.randrange(1 << 32)])
                data[at:at + 4] = struct.pack(">I", value)
    elif kind == "ebmlsize":
        offsets = ebml_size_offsets(bytes(data))
        if offsets:
            pos = rng.choice(offsets)
            data[pos:pos + 8] = bytes([rng.choice([0x01, 0x08, 0x80, 0xFF, rng.randrange(256)])]) + bytes(rng.randrange(256) for _ in range(7))
            data = data[:n]
    return bytes(data), kind


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    seed, count, outdir, sources = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
    rng = random.Random(seed)
    originals = [(path, os.path.splitext(path)[1].lower(), open(path, "rb").read()) for path in sources]
    os.makedirs(outdir, exist_ok=True)
    for i in range(count):
        path, ext, data = originals[i % len(originals)]
        mutated, kind = mutate(data, ext, rng)
        name = f"fuzz-{i:04d}{ext}"
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(mutated)
        print(name, os.path.basename(path), kind)


if __name__ == "__main__":
    main()
