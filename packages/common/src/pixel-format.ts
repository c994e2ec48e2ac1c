/** The pixel formats a converter writes (see {@link PixelFormat}). */
export const PIXEL_FORMATS = ['rgb24', 'bgr24', 'rgba', 'gray8', 'rgb48'] as const;
/**
 * How an output pixel is laid out in `data`: `rgb24` (R, G, B bytes), `bgr24` (B, G, R: OpenCV's order), `rgba`
 * (R, G, B and an opaque alpha of 255), `gray8` (one byte of luma), `rgb48` (R, G, B as 16-bit little-endian
 * numbers, 0-65535, for 10- and 12-bit sources).
 */
export type PixelFormat = (typeof PIXEL_FORMATS)[number];

/** Bytes per pixel and channels of each format. */
export const PIXEL_LAYOUT: Readonly<Record<PixelFormat, { readonly channels: number; readonly bytesPerPixel: number }>> = {
  rgb24: { channels: 3, bytesPerPixel: 3 },
  bgr24: { channels: 3, bytesPerPixel: 3 },
  rgba: { channels: 4, bytesPerPixel: 4 },
  gray8: { channels: 1, bytesPerPixel: 1 },
  rgb48: { channels: 3, bytesPerPixel: 6 },
};
