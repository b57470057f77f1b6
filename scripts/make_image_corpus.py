#!/usr/bin/python3
"""Write the image corpus of internal/preprocess's pipeline tests.

Run with Debian's python (python3-pil, python3-opencv, numpy):

    /usr/bin/python3 scripts/make_image_corpus.py [OUTDIR]     # default: testdata/images/

Deterministic (seeded numpy RNG, fixed zlib level). The files are small and committed; the
tests compute what PIL and OpenCV make of them at test time (scripts/pipeline_ref.py).

PNG of every colour type and bit depth (written by PIL, by OpenCV where PIL cannot, and by
the small raw writer below where neither can: grey 2 and 4 bits, grey+alpha 16 bits):
    gray1 gray1_trns gray2 gray4 gray8 gray8_trns gray16 gray16_trns
    la8 la16 p1 p2 p4 p8 p4_trns p8_trns rgb8 rgb8_trns rgb16 rgba8 rgba16 tiny (1x1)
    rgb8_adam7 gray4_adam7 la16_adam7 (interlaced)
PNG with an eXIf chunk (PIL's exif= option, or raw chunks):
    exif_o1 .. exif_o8     orientation 1-8, little-endian
    exif_mm_o6             big-endian
    exif_o0, exif_o9       values outside 1-8
    exif_badres_o6         an XResolution entry pointing outside the block, before the
                           orientation entry (OpenCV stops reading there)
    exif_o6_badres         the same after it
    exif_truncated_o6      the entry table cut short before the orientation entry
    exif_after_idat_o6     the chunk after the image data
    exif_badorder_then_o6  a first eXIf chunk with an invalid byte order ("IM"), then a
                           valid one
JPEG with EXIF orientation 1-8 (PIL's exif= option; 4:4:4, so that a decoder without libjpeg's
chroma upsampling stays close), for the JPEG tests:
    jpeg_o1 .. jpeg_o8
"""
import io
import os
import struct
import sys
import zlib

import cv2
import numpy as np
from PIL import Image

W, H = 29, 19  # non-square, odd: rows and columns are told apart


def rng():
    return np.random.default_rng(20261201)


def chunk(typ, data):
    return struct.pack(">I", len(data)) + typ + data + struct.pack(">I", zlib.crc32(typ + data) & 0xFFFFFFFF)


def raw_png(width, height, depth, color_type, rows, extra=b""):
    """A PNG from already packed rows (bytes each), filter type 0."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    idat = zlib.compress(b"".join(b"\x00" + r for r in rows), 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def raw_png_adam7(depth, color_type, samples, pack):
    """An interlaced (Adam7) PNG of samples (H, W[, C]); pack(row array) gives a row's bytes."""
    height, width = samples.shape[:2]
    data = b""
    for x0, y0, dx, dy in ADAM7:
        sub = samples[y0::dy, x0::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        data += b"".join(b"\x00" + pack(sub[y]) for y in range(sub.shape[0]))
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 1)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(data, 9)) + chunk(b"IEND", b"")


def pack_bits(values, depth):
    """Pack one row of small integers MSB first, padding the last byte."""
    per = 8 // depth
    out = bytearray()
    for i in range(0, len(values), per):
        b = 0
        group = list(values[i:i + per]) + [0] * (per - len(values[i:i + per]))
        for v in group:
            b = (b << depth) | int(v)
        out.append(b)
    return bytes(out)


def pil_png(im, **kw):
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=9, **kw)
    return buf.getvalue()


def cv2_png(arr):
    ok, enc = cv2.imencode(".png", arr, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert ok
    return enc.tobytes()


def exif_block(order, entries):
    """A TIFF block with one IFD0 of (tag, type, count, value bytes (4)) entries."""
    e = "<" if order == b"II" else ">"
    out = order + struct.pack(e + "HI", 42, 8) + struct.pack(e + "H", len(entries))
    for tag, typ, count, value in entries:
        out += struct.pack(e + "HHI", tag, typ, count) + value
    return out + struct.pack(e + "I", 0)


def short_value(order, v):
    e = "<" if order == b"II" else ">"
    return struct.pack(e + "HH", v, 0)


def insert_chunk(png, typ, data, after_idat=False):
    """Insert a chunk right after IHDR, or right after the last IDAT."""
    if not after_idat:
        at = 8 + 25
    else:
        at = png.rindex(b"IEND") - 4
    return png[:at] + chunk(typ, data) + png[at:]


def main(argv):
    out = argv[0] if argv else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "images")
    os.makedirs(out, exist_ok=True)
    r = rng()
    files = {}

    # Content: gradients, edges and noise, different per channel.
    yy, xx = np.mgrid[0:H, 0:W]
    base = (xx * 9 + yy * 5) % 256
    rgb = np.stack([base, (base * 3 + 40) % 256, 255 - base], axis=2).astype(np.int32)
    rgb = np.clip(rgb + r.integers(-40, 41, size=rgb.shape), 0, 255).astype(np.uint8)
    rgb[(xx // 6 + yy // 5) % 2 == 0] ^= 0x80
    gray = rgb[:, :, 1].copy()
    alpha = r.integers(0, 256, size=(H, W), dtype=np.uint8)
    alpha[0, :] = 0
    g16 = r.integers(0, 65536, size=(H, W)).astype(np.uint16)
    g16[:, :4] = r.integers(0, 600, size=(H, 4))  # values around 255: PIL clips, OpenCV shifts
    rgb16 = r.integers(0, 65536, size=(H, W, 3)).astype(np.uint16)
    a16 = r.integers(0, 65536, size=(H, W)).astype(np.uint16)

    # Grey.
    files["gray1"] = pil_png(Image.fromarray(gray > 127))
    files["gray1_trns"] = pil_png(Image.fromarray(gray > 127), transparency=1)
    for depth in (2, 4):
        levels = gray.astype(np.int32) >> (8 - depth)
        rows = [pack_bits(levels[y], depth) for y in range(H)]
        files[f"gray{depth}"] = raw_png(W, H, depth, 0, rows)
    files["gray8"] = pil_png(Image.fromarray(gray, "L"))
    files["gray8_trns"] = pil_png(Image.fromarray(gray, "L"), transparency=int(gray[3, 3]))
    files["gray16"] = pil_png(Image.fromarray(g16, "I;16"))
    files["gray16_trns"] = raw_png(W, H, 16, 0, [g16[y].astype(">u2").tobytes() for y in range(H)],
                                   extra=chunk(b"tRNS", struct.pack(">H", int(g16[2, 2]))))
    # Grey with alpha.
    files["la8"] = pil_png(Image.fromarray(np.stack([gray, alpha], axis=2), "LA"))
    la16 = np.stack([g16, a16], axis=2).astype(">u2")
    files["la16"] = raw_png(W, H, 16, 4, [la16[y].tobytes() for y in range(H)])
    # Palette: 2, 4, 16 and 256 colours, with and without tRNS.
    for bits in (1, 2, 4, 8):
        n = 1 << bits
        pal = r.integers(0, 256, size=(n, 3), dtype=np.uint8)
        idx = (gray.astype(np.int32) * n // 256).astype(np.uint8)
        im = Image.fromarray(idx, "P")
        im.putpalette(pal.flatten().tolist())
        files[f"p{bits}"] = pil_png(im, bits=bits)
        if bits in (4, 8):
            trns = bytes(r.integers(0, 256, size=n // 2, dtype=np.uint8))  # shorter than the palette
            files[f"p{bits}_trns"] = pil_png(im, bits=bits, transparency=trns)
    # Colour.
    files["rgb8"] = pil_png(Image.fromarray(rgb, "RGB"))
    files["rgb8_trns"] = pil_png(Image.fromarray(rgb, "RGB"), transparency=tuple(int(v) for v in rgb[1, 1]))
    files["rgb16"] = cv2_png(rgb16[:, :, ::-1].copy())
    files["rgba8"] = pil_png(Image.fromarray(np.dstack([rgb, alpha]), "RGBA"))
    files["rgba16"] = cv2_png(np.dstack([rgb16[:, :, ::-1], a16]).copy())
    files["tiny"] = pil_png(Image.fromarray(rgb[:1, :1], "RGB"))
    # Interlaced (Adam7).
    files["rgb8_adam7"] = raw_png_adam7(8, 2, rgb, lambda r: r.tobytes())
    files["gray4_adam7"] = raw_png_adam7(4, 0, gray >> 4, lambda r: pack_bits(r, 4))
    files["la16_adam7"] = raw_png_adam7(16, 4, la16, lambda r: r.tobytes())

    # EXIF orientation in PNG (eXIf).
    im = Image.fromarray(rgb, "RGB")
    for o in range(1, 9):
        ex = Image.Exif()
        ex[0x0112] = o
        files[f"exif_o{o}"] = pil_png(im, exif=ex.tobytes())
    plain = pil_png(im)
    II, MM = b"II", b"MM"
    files["exif_mm_o6"] = insert_chunk(plain, b"eXIf", exif_block(MM, [(0x0112, 3, 1, short_value(MM, 6))]))
    for v in (0, 9):
        files[f"exif_o{v}"] = insert_chunk(plain, b"eXIf", exif_block(II, [(0x0112, 3, 1, short_value(II, v))]))
    bad_res = (0x011A, 5, 1, struct.pack("<I", 0x7FFFFFF0))
    files["exif_badres_o6"] = insert_chunk(plain, b"eXIf", exif_block(II, [bad_res, (0x0112, 3, 1, short_value(II, 6))]))
    files["exif_o6_badres"] = insert_chunk(plain, b"eXIf", exif_block(II, [(0x0112, 3, 1, short_value(II, 6)), bad_res]))
    full = exif_block(II, [(0x0131, 2, 4, b"abc\x00"), (0x0112, 3, 1, short_value(II, 6))])
    files["exif_truncated_o6"] = insert_chunk(plain, b"eXIf", full[:8 + 2 + 12 + 6])
    files["exif_after_idat_o6"] = insert_chunk(plain, b"eXIf", exif_block(II, [(0x0112, 3, 1, short_value(II, 6))]), after_idat=True)
    two = insert_chunk(plain, b"eXIf", exif_block(II, [(0x0112, 3, 1, short_value(II, 6))]))
    files["exif_badorder_then_o6"] = insert_chunk(two, b"eXIf", b"IM" + exif_block(II, [(0x0112, 3, 1, short_value(II, 3))])[2:])

    for name, data in files.items():
        with open(os.path.join(out, name + ".png"), "wb") as f:
            f.write(data)

    # EXIF orientation in JPEG (APP1).
    for o in range(1, 9):
        ex = Image.Exif()
        ex[0x0112] = o
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=90, subsampling=0, exif=ex.tobytes())
        with open(os.path.join(out, f"jpeg_o{o}.jpg"), "wb") as f:
            f.write(buf.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
