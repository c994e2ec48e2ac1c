"""Supervisely's `stream_video_frames_to_dir`, as the bench's whole-process reference.

The seed (Supervisely SDK >= 6.73.578, `supervisely.video.sampling`) cannot run here: it needs the SDK and a
Supervisely server. This script does the same work with the same libraries, so that the bench can time it against
`framepipe frames` from the command line:

- open the video at an HTTP URL with PyAV (FFmpeg's own http protocol, Range requests);
- build the pts -> frame number map by demuxing the packets (no decoding) up to `end + 64`, as the seed does;
- decode: from the keyframe at or before the first frame's pts, or from the start when the stream has B-frames
  whose packets never had `pts != dts` (the seed's rule; for a range from 0 both are the start);
- each frame to an RGB ndarray (`frame.to_ndarray(format="rgb24")`), skipped when its pts is not in the map;
- a queue of `queue_maxsize` (32) frames between the decoding thread and `max_write_workers` (4) writer threads;
  each writer does what `sly.image.write` does: RGB -> BGR, `cv2.imwrite(path, img)` with OpenCV's defaults
  (JPEG quality 95; PNG level 1 with OpenCV's filter and strategy), to `frame_<index:06d>.<ext>`.

Decoding uses FFmpeg's automatic threading (`thread_type = "AUTO"`, frame and slice threads), the fastest choice
PyAV offers, so the comparison does not flatter framepipe.

    /usr/bin/python3 bench/supervisely_reference.py URL OUT_DIR [--ext png|jpg] [--start N] [--end N]

Prints one line, `RESULT {"frames": N}`, when every file is written. Debian's python3-av (PyAV 10) and
python3-opencv (4.6) are enough; the `python3` of a virtualenv without them is not.
"""

import argparse
import json
import os
import queue
import threading

import av
import cv2

SEARCH_AHEAD = 64  # packets demuxed past `end` while building the map, as the seed does


def pts_map(url, end):
    """pts -> frame number: the rank of each pts >= 0 among the video stream's packets (the seed's rule)."""
    with av.open(url) as container:
        stream = container.streams.video[0]
        pts = []
        has_offsets = False
        for packet in container.demux(stream):
            if packet.pts is None or packet.pts < 0:
                continue
            pts.append(packet.pts)
            if packet.dts is not None and packet.dts != packet.pts:
                has_offsets = True
            if end is not None and len(pts) > end + SEARCH_AHEAD:
                break
        b_frames = stream.codec_context.has_b_frames
    ordered = sorted(set(pts))
    return {p: i for i, p in enumerate(ordered)}, ordered, b_frames and not has_offsets


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("out")
    parser.add_argument("--ext", default="png", choices=["png", "jpg", "jpeg"])
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--end", type=int, default=None)
    parser.add_argument("--max-write-workers", type=int, default=4)
    parser.add_argument("--queue-maxsize", type=int, default=32)
    args = parser.parse_args()

    index_of, ordered, decode_from_start = pts_map(args.url, args.end)
    last = len(ordered) - 1
    end = last if args.end is None else min(args.end, last)
    os.makedirs(args.out, exist_ok=True)
    paths = []
    if args.start > end:
        print("RESULT " + json.dumps({"frames": 0}), flush=True)
        return

    frames = queue.Queue(maxsize=args.queue_maxsize)
    errors = []

    def writer():
        while True:
            item = frames.get()
            if item is None:
                return
            path, rgb = item
            try:
                # sly.image.write: the array is RGB, OpenCV writes BGR.
                if not cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
                    raise OSError(f"cv2.imwrite failed for {path}")
            except Exception as error:  # noqa: BLE001 - reported after the join
                errors.append(error)

    workers = [threading.Thread(target=writer, daemon=True) for _ in range(args.max_write_workers)]
    for worker in workers:
        worker.start()

    with av.open(args.url) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if not decode_from_start and args.start > 0:
            container.seek(ordered[args.start], stream=stream, backward=True, any_frame=False)
        done = False
        for packet in container.demux(stream):
            for frame in packet.decode():
                index = index_of.get(frame.pts) if frame.pts is not None else None
                if index is None or index < args.start:
                    continue
                if index > end:
                    done = True
                    break
                path = os.path.join(args.out, f"frame_{index:06d}.{args.ext}")
                frames.put((path, frame.to_ndarray(format="rgb24")))
                paths.append(path)
                if index == end:
                    done = True
                    break
            if done:
                break

    for _ in workers:
        frames.put(None)
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]
    print("RESULT " + json.dumps({"frames": len(paths)}), flush=True)


if __name__ == "__main__":
    main()
