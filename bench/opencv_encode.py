"""OpenCV's own files for the bench's quality and size targets: what `sly.image.write` (`cv2.imwrite` with OpenCV's
defaults: JPEG quality 95, PNG level 1 with OpenCV's filter and strategy) makes of the very RGB frames framepipe's
encoders get.

    /usr/bin/python3 bench/opencv_encode.py WIDTH HEIGHT DIR

reads every `DIR/frame_<index:06d>.rgb` (packed RGB, WIDTH x HEIGHT) and writes `frame_<index:06d>.jpg` and `.png`
beside it. Debian's python3-opencv (4.6) is enough.
"""

import os
import sys

import cv2
import numpy as np


def main():
    width, height, directory = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".rgb"):
            continue
        with open(os.path.join(directory, name), "rb") as file:
            rgb = np.frombuffer(file.read(), dtype=np.uint8).reshape(height, width, 3)
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        stem = os.path.join(directory, name[: -len(".rgb")])
        for ext in ("jpg", "png"):
            if not cv2.imwrite(f"{stem}.{ext}", bgr):
                raise OSError(f"cv2.imwrite failed for {stem}.{ext}")


if __name__ == "__main__":
    main()
