export { Decoder } from './decoder.ts';
export type { DecoderOptions } from './decoder.ts';
