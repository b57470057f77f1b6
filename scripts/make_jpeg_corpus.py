#!/usr/bin/python3
"""Build the JPEG decoder's test corpus and, optionally, its references.

Run with Debian's python (python3-pil, python3-opencv, numpy) and Debian's cjpeg
(libjpeg-turbo-progs):

    /usr/bin/python3 scripts/make_jpeg_corpus.py --fixtures testdata/jpeg   # committed seeds
    /usr/bin/python3 scripts/make_jpeg_corpus.py --refs OUTDIR              # corpus + references

--fixtures writes a few small files (the fuzz seeds; deterministic: seeded RNG, PIL's and
cjpeg's encoders are deterministic). --refs writes the whole corpus (about 200 files, one
of them large) into OUTDIR and decodes every file with PIL (Image.open(p).convert("RGB"))
and OpenCV (cv2.imread(p, cv2.IMREAD_COLOR), which applies the EXIF orientation). It
writes OUTDIR/<name>.pil (raw RGB rows) and OUTDIR/<name>.cv2 (raw BGR rows) and
OUTDIR/manifest.json: [{"name", "pil": [h, w] or error text, "cv2": [h, w] or null}].
"""
import argparse
import io
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

SEED = 20261201


def picture(rng, w, h, channels=3):
    """Smooth colour gradients, sharp edges and noise: every sampling choice shows."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    out = np.empty((h, w, channels), np.float64)
    for c in range(channels):
        fx, fy, ph = rng.uniform(0.02, 0.3, 2).tolist() + [rng.uniform(0, 6.3)]
        out[..., c] = 128 + 90 * np.sin(fx * x + ph) * np.cos(fy * y)
        # a hard-edged rectangle and a diagonal edge per channel
        x0, y0 = rng.integers(0, max(1, w)), rng.integers(0, max(1, h))
        out[y0:y0 + h // 3 + 1, x0:x0 + w // 3 + 1, c] = rng.integers(0, 256)
        out[..., c] = np.where(x + y * rng.uniform(0.5, 2) > (w + h) / 2, out[..., c], 255 - out[..., c])
    out += rng.normal(0, 12, out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def pil_jpeg(arr, mode="RGB", **kw):
    im = Image.fromarray(arr[..., 0] if mode == "L" else arr, "L" if mode == "L" else "RGB")
    if mode == "CMYK":
        im = Image.fromarray(np.dstack([arr, 255 - arr[..., :1]]), "CMYK")
    buf = io.BytesIO()
    im.save(buf, "JPEG", **kw)
    return buf.getvalue()


def cv2_jpeg(arr, params):
    import cv2
    ok, enc = cv2.imencode(".jpg", arr, params)
    assert ok
    return enc.tobytes()


def cjpeg(arr, args, tmp, gray=False):
    h, w = arr.shape[:2]
    if gray:
        hdr = b"P5\n%d %d\n255\n" % (w, h)
        data = np.ascontiguousarray(arr[..., 0]).tobytes()
    else:
        hdr = b"P6\n%d %d\n255\n" % (w, h)
        data = np.ascontiguousarray(arr).tobytes()
    src = os.path.join(tmp, "in.pnm")
    with open(src, "wb") as f:
        f.write(hdr + data)
    r = subprocess.run(["cjpeg"] + args + [src], capture_output=True, check=True)
    return r.stdout


def with_exif_orientation(data, orientation):
    """Insert an EXIF APP1 (IFD0 with tag 0x0112) right after SOI."""
    ifd = b"II*\x00\x08\x00\x00\x00" + b"\x01\x00" + b"\x12\x01\x03\x00\x01\x00\x00\x00" + \
        bytes([orientation, 0, 0, 0]) + b"\x00\x00\x00\x00"
    payload = b"Exif\x00\x00" + ifd
    seg = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    return data[:2] + seg + data[2:]


def adobe_transform(data, transform):
    """Rewrite the transform byte of the Adobe APP14 segment (CMYK -> YCCK)."""
    i = data.find(b"\xff\xeeAdobe"[:2] + b"\x00\x0eAdobe")
    assert i >= 0, "no Adobe segment"
    b = bytearray(data)
    b[i + 4 + 11] = transform
    return bytes(b)


def patch_sampling(data, comp, hv):
    """Set the sampling byte of component comp in the SOF0 header."""
    i = data.find(b"\xff\xc0")
    assert i >= 0
    b = bytearray(data)
    b[i + 2 + 2 + 6 + 3 * comp + 1] = hv
    return bytes(b)


def fixtures(rng, tmp):
    """Small files: one per decoder path, for the fuzz seeds."""
    a = picture(rng, 23, 17)
    out = {
        "q75_420.jpg": pil_jpeg(a, quality=75, subsampling=2),
        "q90_444_prog.jpg": pil_jpeg(a, quality=90, subsampling=0, progressive=True),
        "gray.jpg": pil_jpeg(a, "L", quality=80),
        "cmyk.jpg": pil_jpeg(a, "CMYK", quality=85),
        "s2x1_restart.jpg": cjpeg(a, ["-sample", "2x1", "-restart", "1B", "-quality", "60"], tmp),
        "s1x2_prog_rst.jpg": cjpeg(a, ["-sample", "1x2", "-progressive", "-restart", "2B"], tmp),
        "s4x1_arith.jpg": cjpeg(a, ["-sample", "4x1", "-arithmetic"], tmp),
        "s2x2_arith_prog.jpg": cjpeg(a, ["-sample", "2x2", "-arithmetic", "-progressive"], tmp),
        "exif6.jpg": with_exif_orientation(pil_jpeg(a, quality=70), 6),
        "rgb.jpg": cjpeg(a, ["-rgb"], tmp),
    }
    out["ycck.jpg"] = adobe_transform(out["cmyk.jpg"], 2)
    return out


def corpus(rng, tmp):
    out = {}
    base = picture(rng, 67, 45)
    for q in (30, 50, 75, 90, 95, 100):
        for ss, nm in ((0, "444"), (1, "422"), (2, "420")):
            out[f"pil_q{q}_{nm}.jpg"] = pil_jpeg(base, quality=q, subsampling=ss)
    for ss, nm in ((0, "444"), (1, "422"), (2, "420")):
        out[f"pil_prog_{nm}.jpg"] = pil_jpeg(base, quality=85, subsampling=ss, progressive=True)
        out[f"pil_opt_{nm}.jpg"] = pil_jpeg(base, quality=85, subsampling=ss, optimize=True)
    out["pil_gray.jpg"] = pil_jpeg(base, "L", quality=75)
    out["pil_gray_prog.jpg"] = pil_jpeg(base, "L", quality=75, progressive=True)
    for q in (40, 90, 100):
        out[f"pil_cmyk_q{q}.jpg"] = pil_jpeg(base, "CMYK", quality=q)
        out[f"pil_ycck_q{q}.jpg"] = adobe_transform(out[f"pil_cmyk_q{q}.jpg"], 2)
    out["pil_cmyk_prog.jpg"] = pil_jpeg(base, "CMYK", quality=80, progressive=True)
    rect = picture(rng, 40, 24)
    for o in range(1, 9):
        out[f"exif_o{o}.jpg"] = with_exif_orientation(pil_jpeg(rect, quality=85), o)
    out["exif_o6_420.jpg"] = with_exif_orientation(pil_jpeg(base, quality=60, subsampling=2), 6)

    import cv2
    bgr = base[..., ::-1]
    for q in (30, 60, 95, 100):
        out[f"cv2_q{q}.jpg"] = cv2_jpeg(bgr, [cv2.IMWRITE_JPEG_QUALITY, q])
    out["cv2_prog.jpg"] = cv2_jpeg(bgr, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    out["cv2_opt.jpg"] = cv2_jpeg(bgr, [cv2.IMWRITE_JPEG_OPTIMIZE, 1])
    for rst in (1, 3, 7):
        out[f"cv2_rst{rst}.jpg"] = cv2_jpeg(bgr, [cv2.IMWRITE_JPEG_RST_INTERVAL, rst])
    out["cv2_prog_rst2.jpg"] = cv2_jpeg(bgr, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1, cv2.IMWRITE_JPEG_RST_INTERVAL, 2])

    odd = picture(rng, 37, 29)
    samples = ["1x1", "2x1", "1x2", "2x2", "4x1", "1x4", "3x1", "1x3", "3x2", "2x3", "4x2", "2x4",
               "2x1,1x1,2x1", "1x1,2x2,1x1", "2x2,1x1,2x1", "2x2,2x1,1x2", "4x2,1x1,1x1",
               "2x2,1x2,2x1", "4x1,2x1,1x1", "3x1,1x1,3x1"]
    for s in samples:
        nm = s.replace(",", "_")
        out[f"cj_s{nm}.jpg"] = cjpeg(odd, ["-sample", s, "-quality", "80"], tmp)
        out[f"cj_s{nm}_prog.jpg"] = cjpeg(odd, ["-sample", s, "-progressive"], tmp)
        out[f"cj_s{nm}_arith.jpg"] = cjpeg(odd, ["-sample", s, "-arithmetic"], tmp)
    # Non-integral ratios, which no encoder writes and libjpeg refuses: a valid file
    # whose frame header is patched to declare them.
    for s, comp, hv in (("3x1,1x1,1x1", 1, 0x21), ("2x2,1x1,1x1", 1, 0x31), ("2x2,1x1,1x1", 2, 0x13)):
        out[f"cj_fract_{s.replace(',', '_')}_{hv:02x}.jpg"] = patch_sampling(
            cjpeg(odd, ["-sample", s], tmp), comp, hv)
    # Valid files patched into what libjpeg-turbo 2.1.5's 8-bit build refuses:
    # 12-bit samples, the lossless process (SOF3), two components.
    plain = cjpeg(odd, [], tmp)
    i = plain.find(b"\xff\xc0")
    out["patch_12bit.jpg"] = plain[:i + 4] + b"\x0c" + plain[i + 5:]
    out["patch_sof3.jpg"] = plain[:i + 1] + b"\xc3" + plain[i + 2:]
    for s in ("2x2", "2x1", "1x2", "4x1"):
        for w, h in ((1, 1), (2, 1), (1, 2), (2, 2), (3, 3), (4, 5), (5, 4), (8, 8), (9, 7), (15, 17),
                     (16, 16), (17, 15), (33, 1), (1, 33)):
            out[f"cj_size{w}x{h}_s{s}.jpg"] = cjpeg(picture(rng, w, h), ["-sample", s, "-quality", "90"], tmp)
    out["cj_size4097x3.jpg"] = cjpeg(picture(rng, 4097, 3), ["-quality", "85"], tmp)
    out["cj_size3x4097_prog.jpg"] = cjpeg(picture(rng, 3, 4097), ["-progressive"], tmp)
    out["cj_size4097x3_s1x2.jpg"] = cjpeg(picture(rng, 4097, 3), ["-sample", "1x2"], tmp)
    for r in ("1", "2", "1B", "5B", "13B"):
        out[f"cj_rst{r}.jpg"] = cjpeg(odd, ["-restart", r], tmp)
        out[f"cj_rst{r}_prog.jpg"] = cjpeg(odd, ["-restart", r, "-progressive"], tmp)
        out[f"cj_rst{r}_arith.jpg"] = cjpeg(odd, ["-restart", r, "-arithmetic"], tmp)
    for q in (30, 55, 100):
        out[f"cj_q{q}_gray.jpg"] = cjpeg(odd, ["-grayscale", "-quality", str(q)], tmp, gray=True)
        out[f"cj_q{q}_rgb.jpg"] = cjpeg(odd, ["-rgb", "-quality", str(q)], tmp)
        out[f"cj_q{q}_arith_prog.jpg"] = cjpeg(odd, ["-arithmetic", "-progressive", "-quality", str(q)], tmp)
    out["cj_gray_prog.jpg"] = cjpeg(odd, ["-grayscale", "-progressive"], tmp, gray=True)
    out["cj_gray_arith.jpg"] = cjpeg(odd, ["-grayscale", "-arithmetic"], tmp, gray=True)
    out["cj_gray_s2x2.jpg"] = cjpeg(odd, ["-grayscale", "-sample", "2x2"], tmp, gray=True)
    out["cj_rgb_prog.jpg"] = cjpeg(odd, ["-rgb", "-progressive"], tmp)
    out["cj_fast_dct.jpg"] = cjpeg(odd, ["-dct", "fast"], tmp)
    out["cj_q100_16bitq.jpg"] = cjpeg(odd, ["-quality", "3"], tmp)  # 16-bit DQT entries
    # Scan scripts: non-interleaved sequential; progressive that stops before the last
    # refinement (libjpeg then smooths blocks); one with no AC refinement at all.
    scripts = {
        "seq_nonint": "0;\n1;\n2;\n",
        "seq_mixed": "0,1;\n2;\n",
        "prog_partial": "0,1,2: 0-0, 0, 1;\n0: 1-5, 0, 2;\n0: 6-63, 0, 2;\n1: 1-63, 0, 1;\n2: 1-63, 0, 1;\n0: 1-63, 2, 1;\n",
        "prog_dconly": "0,1,2: 0-0, 0, 0;\n",
        "prog_dc_refine": "0,1,2: 0-0, 0, 2;\n0: 1-63, 0, 0;\n0,1,2: 0-0, 2, 1;\n1: 1-63, 0, 0;\n2: 1-63, 0, 0;\n0,1,2: 0-0, 1, 0;\n",
    }
    for nm, text in scripts.items():
        p = os.path.join(tmp, nm + ".txt")
        with open(p, "w") as f:
            f.write(text)
        out[f"cj_scans_{nm}.jpg"] = cjpeg(odd, ["-scans", p], tmp)
        out[f"cj_scans_{nm}_arith.jpg"] = cjpeg(odd, ["-scans", p, "-arithmetic"], tmp)
        out[f"cj_scans_{nm}_420.jpg"] = cjpeg(odd, ["-scans", p, "-sample", "2x2"], tmp)
    big = picture(rng, 1031, 777)
    out["big_420.jpg"] = pil_jpeg(big, quality=90, subsampling=2)
    out["big_prog_422.jpg"] = pil_jpeg(big, quality=80, subsampling=1, progressive=True)
    out["big_rst_cj.jpg"] = cjpeg(big, ["-restart", "3", "-sample", "2x2"], tmp)
    return out


def references(outdir, names):
    import cv2
    manifest = []
    for name in names:
        p = os.path.join(outdir, name)
        entry = {"name": name}
        try:
            with Image.open(p) as im:
                rgb = np.asarray(im.convert("RGB"))
            with open(p + ".pil", "wb") as f:
                f.write(np.ascontiguousarray(rgb).tobytes())
            entry["pil"] = list(rgb.shape[:2])
        except Exception as e:  # the decoder must refuse it too
            entry["pil"] = f"{type(e).__name__}: {e}"
        bgr = cv2.imread(p, cv2.IMREAD_COLOR)
        if bgr is None:
            entry["cv2"] = None
        else:
            with open(p + ".cv2", "wb") as f:
                f.write(np.ascontiguousarray(bgr).tobytes())
            entry["cv2"] = list(bgr.shape[:2])
        manifest.append(entry)
    with open(os.path.join(outdir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=0)


def main():
    ap = argparse.ArgumentParser()
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--fixtures", metavar="DIR")
    g.add_argument("--refs", metavar="DIR")
    args = ap.parse_args()
    rng = np.random.default_rng(SEED)
    with tempfile.TemporaryDirectory() as tmp:
        files = fixtures(rng, tmp) if args.fixtures else corpus(rng, tmp)
    outdir = args.fixtures or args.refs
    os.makedirs(outdir, exist_ok=True)
    for name, data in sorted(files.items()):
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(data)
    if args.refs:
        references(outdir, sorted(files))
    print(f"{len(files)} files in {outdir}", file=sys.stderr)


if __name__ == "__main__":
    main()
