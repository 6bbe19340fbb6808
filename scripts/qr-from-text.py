#!/usr/bin/env python3
"""Turns a QR code drawn with half blocks in terminal output (hapid's banner: a block is a
light module, ANSI colours ignored) into a PGM image on stdout, 8 pixels a module, for a
decoder such as zbarimg:

    script -qfec 'hapid pair' /dev/null | scripts/qr-from-text.py > qr.pgm && zbarimg -q --raw qr.pgm
"""
import re
import sys

text = re.sub(r"\x1b\[[0-9;]*m", "", sys.stdin.read()).replace("\r", "")
lines = [l for l in text.split("\n") if l and set(l) <= set("█▀▄ ") and "█" in l]
if not lines:
    sys.exit("qr-from-text: no half-block QR code in the input")
width = max(len(l) for l in lines)
rows = []
for l in lines:
    l = l.ljust(width)
    top = [c in "█▀" for c in l]
    bottom = [c in "█▄" for c in l]
    rows += [top, bottom]
scale, margin = 8, 4  # 4 more light modules around it, as the standard's quiet zone
w = (width + 2 * margin) * scale
h = (len(rows) + 2 * margin) * scale
out = bytearray()
blank = bytes([255]) * w
for _ in range(margin * scale):
    out += blank
for r in rows:
    line = bytearray([255]) * (margin * scale)
    for light in r:
        line += bytes([255 if light else 0]) * scale
    line += bytes([255]) * (margin * scale)
    for _ in range(scale):
        out += line
for _ in range(margin * scale):
    out += blank
sys.stdout.buffer.write(b"P5\n%d %d\n255\n" % (w, h) + bytes(out))
