export { Decoder } from './decoder.ts';
export type { DecoderLoss, DecoderOptions } from './decoder.ts';
