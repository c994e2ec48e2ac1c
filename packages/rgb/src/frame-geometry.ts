import { PIXEL_FORMATS, checkInteger, checkOneOf, conflictingOptions, invalidOption, naming } from '@framepipe/common';
import type { PixelFormat } from '@framepipe/common';
import type { InvalidOptionError } from '@framepipe/common';

/** The swscale filters a resize may use (see {@link FrameGeometryOptions.scaleFilter}). */
export const SCALE_FILTERS = ['auto', 'area', 'bicubic', 'bilinear', 'lanczos', 'neighbor'] as const;
export type ScaleFilter = (typeof SCALE_FILTERS)[number];

/** How a picture goes into a `size` that has both sides (see {@link FrameGeometryOptions.fit}). */
export const FITS = ['fill', 'contain', 'cover'] as const;
export type Fit = (typeof FITS)[number];

/** A rectangle of pixels. */
export interface Rect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** The output size; a side left out follows from the other by the picture's aspect ratio. */
export interface OutputSize {
  readonly width?: number | undefined;
  readonly height?: number | undefined;
}

/**
 * The size, crop, scaling filter and pixel format of converted frames: all done in the one swscale pass that converts
 * the colours. The order is: turn upright (`rotate`), `crop`, then scale to `size` (by `fit`) or down to `maxSide`.
 */
export interface FrameGeometryOptions {
  /**
   * The output size in pixels, `{ width, height }`; give one side to keep the aspect ratio (of the crop, if any).
   * Not with `maxSide`.
   * @default the picture's (or the crop's) own size
   * @example
   * { size: { width: 224, height: 224 }, fit: 'cover' } // a centred square, as models take it
   */
  size?: OutputSize | undefined;
  /**
   * How the picture goes into a `size` with both sides: `fill` stretches it to the size; `contain` keeps its aspect
   * ratio and pads the rest with black (opaque for `rgba`), centred; `cover` keeps its aspect ratio and cuts the
   * sides that stick out, centred (a crop before the scale, not a second pass). Without both sides there is nothing
   * to fit: the converter ignores it, and the calls of `@framepipe/core` refuse `contain` and `cover` then
   * (`ERR_FRAMEPIPE_INVALID_OPTION`) rather than give a picture that is neither padded nor cut.
   * @default 'fill'
   */
  fit?: Fit | undefined;
  /**
   * Scale down, keeping the aspect ratio, so that the longer side is at most this many pixels; a smaller picture is
   * left as it is. Not with `size`, which says the size itself.
   */
  maxSide?: number | undefined;
  /**
   * A rectangle of the picture to keep, `{ x, y, width, height }` in pixels of the picture as it is shown: upright
   * when `autorotate` turns it (the coordinates a player's screenshot has), as stored otherwise. Applied before the
   * scale. It must lie inside the picture; a run fails with `ERR_FRAMEPIPE_INVALID_OPTION` and the picture's size
   * once the video is open. For chroma-subsampled video (4:2:0, 4:2:2) the corner is moved left and up to even
   * coordinates, as ffmpeg's `crop` filter does; the size is kept.
   */
  crop?: Rect | undefined;
  /**
   * The swscale filter a resize uses: `area` (averages, best for downscaling), `bicubic`, `bilinear`, `lanczos`
   * (sharpest), `neighbor` (no interpolation, pixels repeated or dropped). `auto` is `area` to make smaller and
   * `bicubic` to make larger. A frame that keeps its size is converted as without any of these options.
   * @default 'auto'
   */
  scaleFilter?: ScaleFilter | undefined;
  /**
   * The layout of each frame's `data`: `rgb24`, `bgr24`, `rgba`, `gray8` or `rgb48` (see `PixelFormat`).
   * @default 'rgb24'
   */
  pixelFormat?: PixelFormat | undefined;
}

/** Checked {@link FrameGeometryOptions}, defaults applied. */
export interface FrameGeometrySettings {
  readonly size: OutputSize | undefined;
  readonly fit: Fit;
  readonly maxSide: number | undefined;
  readonly crop: Rect | undefined;
  readonly scaleFilter: ScaleFilter;
  readonly pixelFormat: PixelFormat;
}

/** What a converter does to a picture of a given size: all in the picture as shown (after rotation). */
export interface GeometryPlan {
  /** The part of the picture that is scaled (the `crop`, narrowed further by `fit: 'cover'`). */
  readonly source: Rect;
  /** The size the source part is scaled to. */
  readonly scaled: { readonly width: number; readonly height: number };
  /** The size of the output frame: `scaled` plus the padding of `fit: 'contain'`. */
  readonly output: { readonly width: number; readonly height: number };
  /** Where the scaled picture sits in the output (non-zero only with padding). */
  readonly offset: { readonly x: number; readonly y: number };
}

export function checkSize(value: unknown, name = 'size'): OutputSize {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalidOption(name, 'an object { width, height } (either may be left out)', value);
  const { width, height, ...rest } = value as Record<string, unknown>;
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined) throw invalidOption(`${name}.${unknown}`, 'no such key (only width and height)', rest[unknown]);
  if (width === undefined && height === undefined) throw invalidOption(name, 'an object with a width, a height or both', value);
  return {
    ...(width === undefined ? {} : { width: checkInteger(`${name}.width`, width, 1) }),
    ...(height === undefined ? {} : { height: checkInteger(`${name}.height`, height, 1) }),
  };
}

export function checkCrop(value: unknown, name = 'crop'): Rect {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalidOption(name, 'an object { x, y, width, height }', value);
  const { x, y, width, height, ...rest } = value as Record<string, unknown>;
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined) throw invalidOption(`${name}.${unknown}`, 'no such key (only x, y, width and height)', rest[unknown]);
  return {
    x: checkInteger(`${name}.x`, x, 0),
    y: checkInteger(`${name}.y`, y, 0),
    width: checkInteger(`${name}.width`, width, 1),
    height: checkInteger(`${name}.height`, height, 1),
  };
}

/** `size` and `maxSide` exclude each other: the one place that says so, for every call that takes both. */
export function checkSizeOrMaxSide(size: unknown, maxSide: unknown): void {
  if (size !== undefined && maxSide !== undefined) {
    throw conflictingOptions('maxSide', 'size', naming`${'size'} sets the output size itself; to bound the longer side, give ${'maxSide'} alone`);
  }
}

/** Checks geometry and format options (each by itself, and `size` against `maxSide`); throws an InvalidOptionError. */
export function checkGeometry(options: FrameGeometryOptions): FrameGeometrySettings {
  const size = options.size === undefined ? undefined : checkSize(options.size);
  const maxSide = options.maxSide === undefined ? undefined : checkInteger('maxSide', options.maxSide, 1);
  checkSizeOrMaxSide(size, maxSide);
  return {
    size,
    fit: options.fit === undefined ? 'fill' : checkOneOf('fit', options.fit, FITS),
    maxSide,
    crop: options.crop === undefined ? undefined : checkCrop(options.crop),
    scaleFilter: options.scaleFilter === undefined ? 'auto' : checkOneOf('scaleFilter', options.scaleFilter, SCALE_FILTERS),
    pixelFormat: options.pixelFormat === undefined ? 'rgb24' : checkOneOf('pixelFormat', options.pixelFormat, PIXEL_FORMATS),
  };
}

/** The crop does not fit a picture of this size (known only once the video is open). */
export function cropOutside(crop: Rect, width: number, height: number): InvalidOptionError {
  const { x, y, width: w, height: h } = crop;
  return invalidOption('crop', `a rectangle inside the ${width}x${height} picture`, { x, y, width: w, height: h });
}

const atLeastOne = (n: number) => Math.max(1, Math.round(n));

/**
 * What the settings do to a picture of `width × height` (as shown, after rotation). Throws an InvalidOptionError when
 * the crop does not fit it.
 */
export function planGeometry(settings: FrameGeometrySettings, width: number, height: number): GeometryPlan {
  let source: Rect = settings.crop ?? { x: 0, y: 0, width, height };
  if (source.x + source.width > width || source.y + source.height > height) throw cropOutside(source, width, height);
  const { size, maxSide, fit } = settings;
  let scaled = { width: source.width, height: source.height };
  if (size?.width !== undefined && size.height !== undefined) {
    const box = { width: size.width, height: size.height };
    if (fit === 'cover') {
      // The widest part of the source with the box's aspect ratio, centred.
      if (source.width * box.height > box.width * source.height) {
        const w = Math.min(source.width, atLeastOne((source.height * box.width) / box.height));
        source = { ...source, x: source.x + Math.floor((source.width - w) / 2), width: w };
      } else {
        const h = Math.min(source.height, atLeastOne((source.width * box.height) / box.width));
        source = { ...source, y: source.y + Math.floor((source.height - h) / 2), height: h };
      }
      scaled = box;
    } else if (fit === 'contain') {
      const s = Math.min(box.width / source.width, box.height / source.height);
      scaled = { width: Math.min(box.width, atLeastOne(source.width * s)), height: Math.min(box.height, atLeastOne(source.height * s)) };
      const offset = { x: Math.floor((box.width - scaled.width) / 2), y: Math.floor((box.height - scaled.height) / 2) };
      return { source, scaled, output: box, offset };
    } else {
      scaled = box;
    }
  } else if (size?.width !== undefined) {
    scaled = { width: size.width, height: atLeastOne((size.width * source.height) / source.width) };
  } else if (size?.height !== undefined) {
    scaled = { width: atLeastOne((size.height * source.width) / source.height), height: size.height };
  } else if (maxSide !== undefined && Math.max(source.width, source.height) > maxSide) {
    const s = maxSide / Math.max(source.width, source.height);
    scaled = { width: Math.min(maxSide, atLeastOne(source.width * s)), height: Math.min(maxSide, atLeastOne(source.height * s)) };
  }
  return { source, scaled, output: scaled, offset: { x: 0, y: 0 } };
}

/**
 * The rectangle of the stored picture (`width × height`, before a turn of `rotate` degrees counter-clockwise) that
 * shows as `rect` of the turned picture.
 */
export function storedRect(rect: Rect, rotate: 0 | 90 | 180 | 270, width: number, height: number): Rect {
  const { x, y, width: w, height: h } = rect;
  switch (rotate) {
    case 0:
      return rect;
    case 180:
      return { x: width - x - w, y: height - y - h, width: w, height: h };
    // A stored (sx, sy) shows at (sy, width-1-sx) turned by 90, and at (height-1-sy, sx) turned by 270.
    case 90:
      return { x: width - y - h, y: x, width: h, height: w };
    case 270:
      return { x: y, y: height - x - w, width: h, height: w };
  }
}
