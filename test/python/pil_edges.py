"""Images in the colour modes where PIL's convert('RGB') is easy to get wrong, written with Pillow,
and what torchvision's ImageFolder loader makes of them.

usage: pil_edges.py IMAGE_DIR EXPECTED_DIR CMYK_PROFILE
Writes the images into IMAGE_DIR, and for each image NAME, EXPECTED_DIR/NAME.f32: the float32 CHW
bytes of ToTensor()(Image.open(path).convert('RGB')), and EXPECTED_DIR/NAME.resized.f32: the same
after Resize(29). Prints {name: PIL mode as opened}.
Pillow cannot write 16-bit RGB, RGBA or LA PNGs; those are written here chunk by chunk.
"""
import io
import json
import os
import random
import struct
import sys
import zlib

from PIL import Image
from torchvision import transforms

image_dir, expected_dir, cmyk_profile = sys.argv[1:4]
os.makedirs(image_dir, exist_ok=True)
os.makedirs(expected_dir, exist_ok=True)
W, H = 37, 23
rng = random.Random(17)


def noise(n, top=256):
    return bytes(rng.randrange(top) for _ in range(n))


def low16(n):
    """n 16-bit big-endian samples, mostly below 256 (where clipping and rescaling differ most)."""
    return bytes(b for _ in range(n) for b in (rng.randrange(2), rng.randrange(256)))


def png16(path, colour_type, channels, samples=None, transparent=None):
    """A 16-bit PNG of random samples (big-endian, as PNG stores them), optionally with a tRNS value."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    samples = samples or noise(W * H * channels * 2)
    stride = W * channels * 2
    rows = b"".join(b"\0" + samples[y * stride:(y + 1) * stride] for y in range(H))
    ihdr = struct.pack(">IIBBBBB", W, H, 16, colour_type, 0, 0, 0)
    trns = chunk(b"tRNS", struct.pack(">H", transparent)) if transparent is not None else b""
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + trns + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def strip_adobe(jpeg):
    """The same JPEG without its APP14 'Adobe' segment (which says how CMYK is stored)."""
    out, i = bytearray(jpeg[:2]), 2
    while jpeg[i + 1] != 0xDA:  # copy segments up to the start of scan
        length = struct.unpack(">H", jpeg[i + 2:i + 4])[0]
        if not (jpeg[i + 1] == 0xEE and jpeg[i + 4:i + 9] == b"Adobe"):
            out += jpeg[i:i + 2 + length]
        i += 2 + length
    return bytes(out + jpeg[i:])


def at(name):
    return os.path.join(image_dir, name)


cmyk = Image.frombytes("CMYK", (W, H), noise(W * H * 4))
cmyk.save(at("cmyk.jpg"), quality=95)
with open(cmyk_profile, "rb") as f:
    cmyk.save(at("cmyk-profile.jpg"), quality=95, icc_profile=f.read())
buf = io.BytesIO()
cmyk.save(buf, "JPEG", quality=95)
with open(at("cmyk-no-adobe.jpg"), "wb") as f:
    f.write(strip_adobe(buf.getvalue()))

palette = Image.frombytes("P", (W, H), noise(W * H, 16))
palette.putpalette(noise(16 * 3))
palette.save(at("palette-transparent.png"), transparency=3)
palette.save(at("transparent.gif"), transparency=3)
palette.save(at("gif-named.png"), format="GIF", transparency=3)
Image.frombytes("L", (W, H), noise(W * H)).save(at("grey-transparent.png"), transparency=7)
Image.frombytes("LA", (W, H), noise(W * H * 2)).save(at("la.png"))
Image.frombytes("RGBA", (W, H), noise(W * H * 4)).save(at("rgba.png"))
Image.frombytes("1", (W, H), noise((W + 7) // 8 * H)).save(at("one-bit.png"))
grey16 = Image.frombytes("I;16", (W, H), noise(W * H * 2))
grey16.save(at("grey16.png"))
grey16.save(at("grey16.tif"))
Image.frombytes("I;16B", (W, H), low16(W * H)).convert("I").convert("I;16").save(at("grey16-low.png"))
png16(at("grey16-transparent.png"), 0, 1, low16(W * H), transparent=300)
png16(at("rgb16.png"), 2, 3)
png16(at("rgba16.png"), 6, 4)
png16(at("la16.png"), 4, 2)

modes = {}
pipelines = {"": transforms.ToTensor(), ".resized": transforms.Compose([transforms.Resize(29), transforms.ToTensor()])}
for name in sorted(os.listdir(image_dir)):
    for suffix, pipeline in pipelines.items():
        with Image.open(at(name)) as im:
            modes[name] = im.mode
            tensor = pipeline(im.convert("RGB"))  # ImageFolder's loader, then the transforms
        with open(os.path.join(expected_dir, name + suffix + ".f32"), "wb") as f:
            f.write(tensor.numpy().tobytes())
print(json.dumps(modes))
