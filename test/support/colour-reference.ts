/**
 * What the RGB of a video's frames should be, computed apart from framepipe and swscale: Debian's ffmpeg hands over
 * the decoded planes untouched (`-f rawvideo` in the stream's own pixel format), and the conversion is done here in
 * doubles from the stream's tags, as the standards write it: limited or full range, the BT.601 / BT.709 / BT.2020
 * matrix, chroma interpolated linearly from where the stream sites it; by the matrix only (no transfer function, no
 * gamut or tone mapping), rounded once at the end.
 */
import { runTool } from './ffmpeg-reference.ts';

/** How a stream's samples are laid out and what they mean, as ffprobe reports them. */
export interface PlaneFormat {
  readonly width: number;
  readonly height: number;
  readonly pixFmt: string;
  readonly bits: number;
  /** log2 of the horizontal and vertical chroma subsampling (4:2:0 is 1, 1). */
  readonly subX: number;
  readonly subY: number;
  /** Luma weights of the matrix. */
  readonly kr: number;
  readonly kb: number;
  readonly fullRange: boolean;
  /** Where the first chroma sample sits, in luma samples from the first luma sample. */
  readonly chromaX: number;
  readonly chromaY: number;
  /** ffprobe's `color_space`, `color_primaries` and `color_transfer` (`unknown` when untagged). */
  readonly space: string;
  readonly primaries: string;
  readonly transfer: string;
  /** All of the above in ffprobe's words, for messages. */
  readonly tags: string;
}

// Matrices by ffprobe's `color_space` name; a stream without one is read as BT.601, as FFmpeg and PyAV do.
const MATRICES: Record<string, { kr: number; kb: number }> = {
  bt709: { kr: 0.2126, kb: 0.0722 },
  bt2020nc: { kr: 0.2627, kb: 0.0593 },
  smpte170m: { kr: 0.299, kb: 0.114 },
  bt470bg: { kr: 0.299, kb: 0.114 },
  unknown: { kr: 0.299, kb: 0.114 },
};

// Chroma siting by ffprobe's `chroma_location`. Unspecified is read as "left": co-sited with the even luma columns,
// as H.264/HEVC/MPEG-2 define 4:2:0 by default and every standard defines 4:2:2, and midway between rows.
const SITING: Record<string, { x: number; y: number }> = {
  left: { x: 0, y: 0.5 },
  unspecified: { x: 0, y: 0.5 },
  center: { x: 0.5, y: 0.5 },
  topleft: { x: 0, y: 0 },
  top: { x: 0.5, y: 0 },
  bottomleft: { x: 0, y: 1 },
  bottom: { x: 0.5, y: 1 },
};

/** Reads the layout and tags of the first video stream of `path` with ffprobe. */
export async function probePlaneFormat(path: string): Promise<PlaneFormat> {
  const entries = 'stream=width,height,pix_fmt,color_space,color_range,color_transfer,color_primaries,chroma_location';
  const out = await runTool('ffprobe', ['-select_streams', 'v:0', '-show_entries', entries, '-of', 'json', path]);
  const stream = (JSON.parse(out.toString()) as { streams: Array<Record<string, string | number | undefined>> }).streams[0];
  if (!stream) throw new Error(`ffprobe finds no video stream in ${path}`);
  const pixFmt = String(stream.pix_fmt);
  const layout = /^yuv(420|422|444)p(?:(9|10|12|14|16)le)?$/.exec(pixFmt);
  if (!layout) throw new Error(`colour reference: no planar YUV layout for ${pixFmt}`);
  const [space, primaries, transfer] = [stream.color_space, stream.color_primaries, stream.color_transfer].map((v) => String(v ?? 'unknown')) as [string, string, string];
  const matrix = MATRICES[space];
  if (!matrix) throw new Error(`colour reference: no matrix for color_space ${space}`);
  const siting = SITING[String(stream.chroma_location ?? 'unspecified')];
  if (!siting) throw new Error(`colour reference: no siting for chroma_location ${stream.chroma_location}`);
  const subsampling = layout[1]!;
  const subY = subsampling === '420' ? 1 : 0;
  return {
    width: Number(stream.width),
    height: Number(stream.height),
    pixFmt,
    bits: layout[2] ? Number(layout[2]) : 8,
    subX: subsampling === '444' ? 0 : 1,
    subY,
    ...matrix,
    fullRange: stream.color_range === 'pc',
    chromaX: subsampling === '444' ? 0 : siting.x,
    chromaY: subY ? siting.y : 0,
    space,
    primaries,
    transfer,
    tags: `${pixFmt}, matrix ${space}, primaries ${primaries}, transfer ${transfer}, range ${stream.color_range ?? 'unknown'}, ` +
      `chroma ${stream.chroma_location ?? 'unspecified'}`,
  };
}

/** Every frame ffmpeg decodes from the first video stream of `path`, as stored, in `pixFmt`, one after the other. */
export function ffmpegRawvideo(path: string, pixFmt: string): Promise<Buffer> {
  return runTool('ffmpeg', ['-noautorotate', '-i', path, '-map', '0:v:0', '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', pixFmt, '-']);
}

/** Every decoded frame of `path` as its raw planes (Y, then Cb, then Cr; 16-bit little-endian above 8 bits). */
export async function decodedPlanes(path: string, format: PlaneFormat): Promise<Buffer[]> {
  const raw = await ffmpegRawvideo(path, format.pixFmt);
  const { width, height, subX, subY, bits } = format;
  const bytes = bits > 8 ? 2 : 1;
  const size = (width * height + 2 * (width >> subX) * (height >> subY)) * bytes;
  if (raw.length % size !== 0) throw new Error(`ffmpeg's ${format.pixFmt} of ${path} is not a whole number of frames`);
  const frames: Buffer[] = [];
  for (let o = 0; o < raw.length; o += size) frames.push(raw.subarray(o, o + size));
  return frames;
}

/** Reads one frame's samples: luma at a pixel, and the chroma samples around it with their linear weights. */
function planeReader(planes: Buffer, format: PlaneFormat) {
  const { width, height, subX, subY, bits, chromaX, chromaY } = format;
  const sample = bits > 8 ? (index: number) => planes.readUInt16LE(index * 2) : (index: number) => planes[index]!;
  const cw = width >> subX;
  const ch = height >> subY;
  const at = (plane: number, x: number, y: number) =>
    sample(width * height + plane * cw * ch + Math.min(Math.max(y, 0), ch - 1) * cw + Math.min(Math.max(x, 0), cw - 1));
  return {
    luma: (x: number, y: number) => sample(y * width + x),
    /** The four chroma samples of `plane` around pixel (x, y) on the chroma grid, with their bilinear weights. */
    chroma(plane: number, x: number, y: number): Array<[value: number, weight: number]> {
      const fx = (x - chromaX) / (1 << subX);
      const fy = (y - chromaY) / (1 << subY);
      const x0 = Math.floor(fx);
      const y0 = Math.floor(fy);
      const ax = fx - x0;
      const ay = fy - y0;
      return [
        [at(plane, x0, y0), (1 - ax) * (1 - ay)],
        [at(plane, x0 + 1, y0), ax * (1 - ay)],
        [at(plane, x0, y0 + 1), (1 - ax) * ay],
        [at(plane, x0 + 1, y0 + 1), ax * ay],
      ];
    },
  };
}

/**
 * The RGB of one frame's planes in doubles, 0..255 and clipped but not rounded: `width × height × 3` values, row-major,
 * R, G, B. Chroma is interpolated linearly between the samples around each pixel.
 */
export function floatRgb(planes: Buffer, format: PlaneFormat): Float64Array {
  const { width, height, bits, kr, kb, fullRange } = format;
  const max = (1 << bits) - 1;
  const scale = 1 << (bits - 8);
  const toLuma = fullRange ? (v: number) => v / max : (v: number) => (v / scale - 16) / 219;
  const toChroma = fullRange ? (v: number) => (v - (1 << (bits - 1))) / max : (v: number) => (v / scale - 128) / 224;
  const reader = planeReader(planes, format);
  const interpolate = (plane: number, x: number, y: number) =>
    reader.chroma(plane, x, y).reduce((sum, [value, weight]) => sum + value * weight, 0);
  const clip = (v: number) => Math.min(255, Math.max(0, v * 255));
  const rgb = new Float64Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const ey = toLuma(reader.luma(x, y));
      const pb = toChroma(interpolate(0, x, y));
      const pr = toChroma(interpolate(1, x, y));
      const r = ey + 2 * (1 - kr) * pr;
      const b = ey + 2 * (1 - kb) * pb;
      const g = (ey - kr * r - kb * b) / (1 - kr - kb);
      const o = (y * width + x) * 3;
      rgb[o] = clip(r);
      rgb[o + 1] = clip(g);
      rgb[o + 2] = clip(b);
    }
  }
  return rgb;
}

/**
 * Whether the decoded samples make pixel (x, y) white whatever the chroma interpolation: luma at nominal white or
 * above, and every chroma sample around it off neutral by less than a quarter of an 8-bit step (so exactly neutral
 * at 8 and 10 bits), too little to take any channel below 254.5.
 */
export function isDecodedWhite(planes: Buffer, format: PlaneFormat, x: number, y: number): boolean {
  const { bits, fullRange } = format;
  const reader = planeReader(planes, format);
  const white = fullRange ? (1 << bits) - 1 : 235 << (bits - 8);
  const neutral = 1 << (bits - 1);
  const around = [...reader.chroma(0, x, y), ...reader.chroma(1, x, y)];
  return reader.luma(x, y) >= white && around.every(([value]) => Math.abs(value - neutral) * 4 < 1 << (bits - 8));
}
