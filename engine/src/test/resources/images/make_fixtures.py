"""Writes the image test fixtures of io.vqwen.engine.image: small images made with Pillow (plus a few PNGs
written by hand for bit depths Pillow cannot save) and, for each, what the reference produces:

  NAME.rgb.gz        transformers.image_utils.load_image(NAME) as uint8 HWC (EXIF transpose + convert("RGB"))
  NAME.CFG.pv.gz     CLIPImageProcessor (PIL backend) pixel_values[0] for that image, float32 little-endian CHW
  NAME.rs_WxH.rgb.gz Image.resize((W, H), BICUBIC) of the RGB image, uint8 HWC
  expected.json      the index: per image its size and the expected files; the configs by name

Run where transformers (5.17) and Pillow are installed, from the repository root:
  python3 engine/src/test/resources/images/make_fixtures.py OUT_DIR testdata/tiny-llava
then copy OUT_DIR/* into engine/src/test/resources/images/. It also prints the reference's source for the
steps it relies on, and checks that the processor reproduces golden.safetensors' pixel_values.
"""
import gzip
import inspect
import io
import json
import os
import struct
import sys
import zlib

import numpy as np
import PIL
from PIL import Image, ImageOps, features

import transformers
from transformers import AutoImageProcessor
from transformers import image_transforms, image_utils
from transformers.image_utils import load_image

out_dir, model_dir = sys.argv[1], sys.argv[2]
os.makedirs(out_dir, exist_ok=True)
rng = np.random.default_rng(1234)

print("Pillow", PIL.__version__, "transformers", transformers.__version__, "numpy", np.__version__)
print("webp", features.check("webp"), "libjpeg_turbo", features.check_feature("libjpeg_turbo"))


# ---------------------------------------------------------------- reference source, for the reader
def show(obj):
    try:
        print("=" * 20, getattr(obj, "__qualname__", obj), inspect.getsourcefile(obj))
        print(inspect.getsource(obj))
    except Exception as e:  # noqa: BLE001 - only informative
        print("no source for", obj, e)


for name in ("load_image",):
    show(getattr(image_utils, name))
for name in ("convert_to_rgb", "get_resize_output_image_size", "resize", "center_crop", "rescale", "normalize",
             "to_pil_image"):
    if hasattr(image_transforms, name):
        show(getattr(image_transforms, name))

try:
    proc = AutoImageProcessor.from_pretrained(model_dir, backend="pil")
except Exception as e:  # noqa: BLE001
    print("backend='pil' refused:", repr(e))
    proc = AutoImageProcessor.from_pretrained(model_dir, use_fast=False)
print("processor class", type(proc), type(proc).__mro__)
for cls in type(proc).__mro__:
    for meth in ("preprocess", "_preprocess", "resize", "center_crop", "rescale", "normalize",
                 "rescale_and_normalize", "convert_to_rgb", "_process_image"):
        if meth in cls.__dict__:
            show(cls.__dict__[meth])


# ---------------------------------------------------------------- golden check
def pixel_values(img, **kw):
    try:
        pv = proc(images=[img], return_tensors="np", **kw)["pixel_values"]
    except Exception as e:  # noqa: BLE001 - settings as call arguments refused: make a processor with them
        print("call with settings failed:", repr(e))
        other = type(proc).from_pretrained(model_dir, **kw)
        pv = other(images=[img], return_tensors="np")["pixel_values"]
    return np.asarray(pv, dtype=np.float32)[0]


try:
    from safetensors.numpy import load_file
    golden = load_file(os.path.join(model_dir, "golden.safetensors"))
    for img_name, key in (("image.png", "pixel_values"), ("image2.png", "image2_pixel_values"),
                          ("image3.jpg", "image3_pixel_values")):
        pv = pixel_values(load_image(os.path.join(model_dir, img_name)))
        print("golden", img_name, "max abs diff", float(np.abs(pv - golden[key][0]).max()))
        pv2 = pixel_values(Image.open(os.path.join(model_dir, img_name)))
        print("golden (Image.open)", img_name, "max abs diff", float(np.abs(pv2 - golden[key][0]).max()))
except Exception as e:  # noqa: BLE001
    print("golden check failed:", repr(e))

# ---------------------------------------------------------------- the images
MEAN = np.array(proc.image_mean, dtype=np.float32)
STD = np.array(proc.image_std, dtype=np.float32)
CONFIGS = {
    # non-square crop smaller than the resized image, odd offsets
    "A": dict(shortest_edge=20, crop_height=16, crop_width=18, resample=3),
    # upscale, square crop
    "B": dict(shortest_edge=24, crop_height=24, crop_width=24, resample=3),
    # the checkpoint's own settings
    "REAL": dict(shortest_edge=336, crop_height=336, crop_width=336, resample=3),
    # crop larger than the resized image: transformers pads with zeros
    "PAD": dict(shortest_edge=20, crop_height=26, crop_width=23, resample=3),
    # the other filters through the same code, and NEAREST through Pillow's affine path
    "BILINEAR": dict(shortest_edge=20, crop_height=16, crop_width=18, resample=2),
    "LANCZOS": dict(shortest_edge=20, crop_height=16, crop_width=18, resample=1),
    "BOX": dict(shortest_edge=20, crop_height=16, crop_width=18, resample=4),
    "HAMMING": dict(shortest_edge=20, crop_height=16, crop_width=18, resample=5),
    "NEAREST": dict(shortest_edge=20, crop_height=16, crop_width=18, resample=0),
}


def smooth(h, w, seed, noise=3):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 100 * np.sin(x / 5.0 + seed) * np.cos(y / 7.0)
    g = 128 + 100 * np.cos(x / 3.0 - y / 4.0 + seed)
    b = x * 255 / max(w - 1, 1) * 0.5 + y * 255 / max(h - 1, 1) * 0.5
    img = np.stack([r, g, b], -1) + rng.integers(-noise, noise + 1, size=(h, w, 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def noise(h, w, c):
    return rng.integers(0, 256, size=(h, w, c) if c > 1 else (h, w), dtype=np.uint8)


def png_chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def write_png(path, rows, width, height, bit_depth, color_type):
    """rows: list of already packed scanline bytes (no filter byte)."""
    raw = b"".join(b"\x00" + r for r in rows)
    data = (b"\x89PNG\r\n\x1a\n"
            + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(data)


images = {}  # name -> list of config names


def add(name, configs=("A",), resizes=()):
    images[name] = dict(configs=list(configs), resizes=list(resizes))


def p(name):
    return os.path.join(out_dir, name)


# plain RGB: noise (worst case for a resampler), smooth downscale, tiny upscale, 1x1
Image.fromarray(noise(43, 61, 3)).save(p("rgb_61x43.png"))
add("rgb_61x43.png", ("A", "PAD", "BILINEAR", "LANCZOS", "BOX", "HAMMING", "NEAREST"), ((17, 29), (200, 7), (61, 43), (5, 4)))
Image.fromarray(smooth(60, 90, 0.3, noise=0)).save(p("rgb_90x60.png"))
add("rgb_90x60.png", ("A",), ((37, 23),))
Image.fromarray(noise(5, 7, 3)).save(p("rgb_7x5.png"))
add("rgb_7x5.png", ("A", "B", "LANCZOS", "BOX", "HAMMING", "NEAREST"), ((19, 11),))
Image.fromarray(np.array([[[200, 30, 90]]], dtype=np.uint8)).save(p("rgb_1x1.png"))
add("rgb_1x1.png", ("REAL", "A"))

# alpha, grayscale, palette, 1-bit
Image.fromarray(noise(30, 40, 4), "RGBA").save(p("rgba_40x30.png"))
add("rgba_40x30.png")
Image.fromarray(noise(40, 30, 2), "LA").save(p("la_30x40.png"))
add("la_30x40.png")
Image.fromarray(noise(21, 33, 1), "L").save(p("gray_33x21.png"))
add("gray_33x21.png")
Image.fromarray(noise(19, 27, 1) > 127).save(p("bw_27x19.png"))
add("bw_27x19.png")
pal_img = Image.fromarray(rng.integers(0, 16, size=(23, 37), dtype=np.uint8), "P")
pal_img.putpalette(list(rng.integers(0, 256, size=16 * 3, dtype=np.uint8)))
pal_img.save(p("pal_37x23.png"))
add("pal_37x23.png")
pal_img.save(p("pal4bit_37x23.png"), bits=4)
add("pal4bit_37x23.png")
pal_img.save(p("pal_trns_37x23.png"), transparency=3)
add("pal_trns_37x23.png")

# 16-bit and 4-bit PNGs, written by hand
g16 = rng.integers(0, 700, size=(37, 29)).astype(np.uint16)  # some below 256, most above
write_png(p("gray16_29x37.png"), [r.astype(">u2").tobytes() for r in g16], 29, 37, 16, 0)
add("gray16_29x37.png")
rgb16 = rng.integers(0, 65536, size=(17, 23, 3)).astype(np.uint16)
write_png(p("rgb16_23x17.png"), [r.astype(">u2").tobytes() for r in rgb16], 23, 17, 16, 2)
add("rgb16_23x17.png")
rgba16 = rng.integers(0, 65536, size=(17, 23, 4)).astype(np.uint16)
write_png(p("rgba16_23x17.png"), [r.astype(">u2").tobytes() for r in rgba16], 23, 17, 16, 6)
add("rgba16_23x17.png")
la16 = rng.integers(0, 65536, size=(13, 19, 2)).astype(np.uint16)
write_png(p("la16_19x13.png"), [r.astype(">u2").tobytes() for r in la16], 19, 13, 16, 4)
add("la16_19x13.png")
g4 = rng.integers(0, 16, size=(13, 19)).astype(np.uint8)
rows4 = []
for r in g4:
    rr = np.concatenate([r, [0]]) if len(r) % 2 else r
    rows4.append(bytes(((rr[0::2] << 4) | rr[1::2]).astype(np.uint8)))
write_png(p("gray4_19x13.png"), rows4, 19, 13, 4, 0)
add("gray4_19x13.png")

# GIF (first frame of two), BMP, WebP
f0 = Image.fromarray(rng.integers(0, 32, size=(19, 25), dtype=np.uint8), "P")
f0.putpalette(list(rng.integers(0, 256, size=32 * 3, dtype=np.uint8)))
f1 = Image.fromarray(noise(19, 25, 3)).quantize(32)
f0.save(p("anim_25x19.gif"), save_all=True, append_images=[f1], duration=100, loop=0, transparency=5)
add("anim_25x19.gif")


def place_gif_frame(path, screen_w, screen_h, left, top):
    """Rewrites a one-frame GIF so that its frame sits at (left, top) of a larger logical screen."""
    d = bytearray(open(path, "rb").read())
    d[6:10] = struct.pack("<HH", screen_w, screen_h)
    i = 13 + (3 * 2 ** ((d[10] & 7) + 1) if d[10] & 0x80 else 0)
    while d[i] == 0x21:  # extensions: label, then sub-blocks up to a zero length
        i += 2
        while d[i]:
            i += d[i] + 1
        i += 1
    assert d[i] == 0x2C, "no image descriptor"
    d[i + 1:i + 5] = struct.pack("<HH", left, top)
    open(path, "wb").write(bytes(d))


small = Image.fromarray(rng.integers(0, 16, size=(6, 10), dtype=np.uint8), "P")
small.putpalette(list(rng.integers(0, 256, size=16 * 3, dtype=np.uint8)))
small.save(p("frame_trns_25x19.gif"), transparency=2)
place_gif_frame(p("frame_trns_25x19.gif"), 25, 19, 7, 5)
add("frame_trns_25x19.gif")
small.save(p("frame_25x19.gif"))
place_gif_frame(p("frame_25x19.gif"), 25, 19, 3, 11)
add("frame_25x19.gif")
Image.fromarray(noise(19, 29, 3)).save(p("rgb_29x19.bmp"))
add("rgb_29x19.bmp")
pal_img.save(p("pal_37x23.bmp"))
add("pal_37x23.bmp")
if features.check("webp"):
    Image.fromarray(smooth(23, 31, 1.1)).save(p("rgb_lossless_31x23.webp"), lossless=True)
    add("rgb_lossless_31x23.webp")
    Image.fromarray(noise(23, 31, 4), "RGBA").save(p("rgba_lossless_31x23.webp"), lossless=True, exact=True)
    add("rgba_lossless_31x23.webp")
    Image.fromarray(smooth(23, 31, 2.2)).save(p("rgb_lossy_31x23.webp"), quality=90)
    add("rgb_lossy_31x23.webp")

# JPEG: 4:2:0 baseline, progressive, grayscale, CMYK (Adobe, inverted), YCCK (same bytes, Adobe transform 2)
Image.fromarray(smooth(32, 48, 0.7)).save(p("ycc420_48x32.jpg"), quality=90)
add("ycc420_48x32.jpg")
Image.fromarray(smooth(32, 48, 1.7)).save(p("progressive_48x32.jpg"), quality=90, progressive=True)
add("progressive_48x32.jpg")
Image.fromarray(smooth(16, 24, 0.1)[:, :, 0], "L").save(p("gray_24x16.jpg"), quality=90)
add("gray_24x16.jpg")
cmyk = np.concatenate([smooth(30, 40, 0.5), smooth(30, 40, 2.5)[:, :, :1]], -1)
Image.frombytes("CMYK", (40, 30), cmyk.tobytes()).save(p("cmyk_40x30.jpg"), quality=95)
add("cmyk_40x30.jpg")
data = bytearray(open(p("cmyk_40x30.jpg"), "rb").read())
i = 2
while True:  # walk the markers to the APP14 "Adobe" segment; its last byte is the transform flag
    marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
    if marker == 0xEE and data[i + 4:i + 9] == b"Adobe":
        assert data[i + 2 + length - 1] == 0, "Pillow wrote a CMYK JPEG with a non-zero Adobe transform"
        data[i + 2 + length - 1] = 2
        break
    assert marker != 0xDA, "no Adobe APP14 marker in Pillow's CMYK JPEG"
    i += 2 + length
open(p("ycck_40x30.jpg"), "wb").write(bytes(data))
add("ycck_40x30.jpg")

# EXIF orientation 1..8: flat 8x8 blocks of distinct colours, 4:4:4 quality 100, so the decode is near exact
blocks = np.array([[[230, 20, 20], [20, 230, 20], [20, 20, 230]],
                   [[230, 230, 20], [20, 230, 230], [130, 60, 200]]], dtype=np.uint8)
base = np.kron(blocks, np.ones((8, 8, 1), dtype=np.uint8))  # 16 x 24
for o in range(1, 9):
    ex = Image.Exif()
    ex[0x0112] = o
    Image.fromarray(base).save(p(f"exif_o{o}_24x16.jpg"), quality=100, subsampling=0, exif=ex.tobytes())
    add(f"exif_o{o}_24x16.jpg")
ex = Image.Exif()
ex[0x0112] = 6
Image.fromarray(base).save(p("exif_o6_24x16.png"), exif=ex.tobytes())
add("exif_o6_24x16.png")


# ---------------------------------------------------------------- expected outputs
def gz(name, arr):
    with gzip.GzipFile(p(name), "wb", compresslevel=9, mtime=0) as f:
        f.write(np.ascontiguousarray(arr).tobytes())


def my_pipeline(rgb, cfg):
    """The pipeline as this project implements it, in numpy + PIL, to confirm the reference's semantics."""
    h, w = rgb.shape[:2]
    s = cfg["shortest_edge"]
    if h <= w:
        nh, nw = s, int(s * w / h)
    else:
        nh, nw = int(s * h / w), s
    im = np.asarray(Image.fromarray(rgb).resize((nw, nh), resample=cfg["resample"]))
    ch, cw = cfg["crop_height"], cfg["crop_width"]
    top, left = (nh - ch) // 2, (nw - cw) // 2
    if top >= 0 and left >= 0:
        im = im[top:top + ch, left:left + cw]
    else:
        return None
    x = (im.astype(np.float64) * proc.rescale_factor).astype(np.float32)
    x = (x - MEAN) / STD
    return x.transpose(2, 0, 1)


index = {"configs": {}, "images": {}}
for cname, cfg in CONFIGS.items():
    index["configs"][cname] = dict(cfg, image_mean=[float(v) for v in proc.image_mean],
                                   image_std=[float(v) for v in proc.image_std],
                                   rescale_factor=float(proc.rescale_factor))
for name, spec in images.items():
    raw = Image.open(p(name))
    rgb_img = load_image(p(name))
    rgb = np.asarray(rgb_img)
    entry = dict(mode=raw.mode, height=rgb.shape[0], width=rgb.shape[1], rgb=name + ".rgb.gz", pv={}, resize={})
    gz(entry["rgb"], rgb)
    for cname in spec["configs"]:
        cfg = CONFIGS[cname]
        pv = pixel_values(rgb_img, size={"shortest_edge": cfg["shortest_edge"]},
                          crop_size={"height": cfg["crop_height"], "width": cfg["crop_width"]},
                          resample=cfg["resample"])
        assert pv.shape == (3, cfg["crop_height"], cfg["crop_width"]), (name, cname, pv.shape)
        fname = f"{name}.{cname}.pv.gz"
        gz(fname, pv.astype("<f4"))
        entry["pv"][cname] = fname
        mine = my_pipeline(rgb, cfg)
        direct = pixel_values(raw, size={"shortest_edge": cfg["shortest_edge"]},
                              crop_size={"height": cfg["crop_height"], "width": cfg["crop_width"]},
                              resample=cfg["resample"])
        print(f"{name} {cname}: mode {raw.mode}, model-vs-reference max diff "
              f"{'n/a' if mine is None else float(np.abs(mine - pv).max())}, "
              f"Image.open-vs-load_image max diff {float(np.abs(direct - pv).max())}")
    for (w, h) in spec["resizes"]:
        fname = f"{name}.rs_{w}x{h}.rgb.gz"
        gz(fname, np.asarray(rgb_img.resize((w, h), resample=Image.BICUBIC)))
        entry["resize"][f"{w}x{h}"] = fname
    index["images"][name] = entry

with open(p("expected.json"), "w") as f:
    json.dump(index, f, indent=1, sort_keys=True)
total = sum(os.path.getsize(p(n)) for n in os.listdir(out_dir))
print("wrote", len(os.listdir(out_dir)), "files,", total, "bytes")
