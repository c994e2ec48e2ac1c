/**
 * A Supervisely video by id, in the call shape of the Python SDK (Supervisely's tutorial: "Init API client",
 * "Save frames to directory" and "Async version"): `streamVideoFramesToDir({ api, videoId, outputDir, start, end })`
 * saves frames 0–9, then `streamVideoFrames({ api, videoId, start, end })` yields them as RGB frames.
 *
 *   pnpm exec node examples/supervisely.ts                           a stand-in Supervisely server on 127.0.0.1
 *                                                                    serves the embedded sample as video 42
 *   pnpm exec node examples/supervisely.ts <path> [--out DIR]        the stand-in serves your file as video 42
 *   pnpm exec node examples/supervisely.ts --video-id N [--out DIR]  your Supervisely instance; SERVER_ADDRESS and
 *                                                                    API_TOKEN from the environment, ./local.env
 *                                                                    or ~/supervisely.env
 *
 * With the tutorial's ./local.env (SERVER_ADDRESS, API_TOKEN, VIDEO_ID) in the directory you run it from, it reads
 * that video, as the tutorial's script does. Without a video id it sends no request beyond 127.0.0.1.
 */
import { SuperviselyApi, streamVideoFrames, streamVideoFramesToDir } from '@framepipe/supervisely';
import { startStandInServer } from '@framepipe/supervisely/stand-in';
import type { StandInServer } from '@framepipe/supervisely/stand-in';
import { parseExampleArgs, usageError } from './lib/source.ts';
import { SAMPLE_VIDEO } from './lib/serve-file.ts';

const STAND_IN_VIDEO_ID = 42;

const args = parseExampleArgs({ start: 0, end: 9 });
if (args.source !== undefined && /^https?:/i.test(args.source)) {
  usageError('supervisely.ts serves a local file through the stand-in; for a URL use the other examples', args.options);
}

let api: SuperviselyApi;
let videoId: number;
let standIn: StandInServer | null = null;
if (args.videoId !== undefined) {
  api = SuperviselyApi.fromEnv();
  videoId = args.videoId;
  console.log(`Supervisely video ${videoId} on ${api.serverAddress}`);
} else {
  // A loopback server that answers like Supervisely: videos.info, then the file with Range, and checks x-api-key.
  const path = args.source ?? SAMPLE_VIDEO;
  standIn = await startStandInServer({ videos: { [STAND_IN_VIDEO_ID]: { path } } });
  api = new SuperviselyApi({ serverAddress: standIn.address, token: standIn.token });
  videoId = STAND_IN_VIDEO_ID;
  console.log(`No video id given (--video-id or VIDEO_ID): a stand-in Supervisely server at ${standIn.address} serves ${path} as video ${videoId}`);
}

try {
  const outputDir = await args.outputDir();
  const paths = await streamVideoFramesToDir({ api, videoId, outputDir, ...args.options });
  console.log(`Saved ${paths.length} frames:`);
  for (const path of paths) console.log(path);

  for await (const frame of streamVideoFrames({ api, videoId, ...args.options })) {
    // Packed RGB24: the layout of the SDK's (height, width, 3) NumPy array.
    console.log(`frame ${frame.index}: shape (${frame.height}, ${frame.width}, 3), ${frame.data.length} bytes`);
  }
  if (standIn) console.log(`The stand-in answered ${standIn.requests.length} requests`);
} finally {
  await standIn?.close();
}
