export { RgbConverter } from './rgb-converter.ts';
export type { RgbFrame, NumberedFrameInput, RgbConverterOptions } from './rgb-converter.ts';
