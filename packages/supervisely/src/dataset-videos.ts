import { ErrorCode, FramepipeError } from '@framepipe/common';
import { notVisible, postApi, type ApiConnection } from './api-call.ts';
import type { SuperviselyVideoInfo } from './video-info.ts';

/** What a `videos.list` listing needs; the API class fills it in. */
export interface DatasetVideosRequest extends ApiConnection {
  datasetId: number;
  /** `<apiServerAddress>/v3/videos.list` */
  url: string;
  /** Videos asked for per page; undefined lets the server choose, as the SDK's first request does. */
  perPage: number | undefined;
}

/** One page of a list, as Supervisely answers it. */
interface ListPage {
  total: number;
  perPage: number;
  pagesCount: number;
  entities: SuperviselyVideoInfo[];
}

/**
 * Every video of a dataset, by id ascending: `POST <url>` with `{ datasetId, filter: [], sort: 'id', sort_order:
 * 'asc', page }` page after page, as the SDK's `api.video.get_list(dataset_id)` (`get_list_all_pages`): the first
 * answer says `total`, `perPage` and `pagesCount`, the next pages are asked for with that `per_page`. A listing
 * that ends with another count of videos than `total` (videos added or removed meanwhile) fails, as in the SDK.
 */
export async function fetchDatasetVideos(request: DatasetVideosRequest): Promise<SuperviselyVideoInfo[]> {
  const { datasetId, serverAddress } = request;
  const subject = `dataset ${datasetId}`;
  const page = (page: number, perPage: number | undefined) =>
    postApi<ListPage>({
      ...request,
      method: 'videos.list',
      body: { datasetId, filter: [], sort: 'id', sort_order: 'asc', forceMetadataForLinks: false, page, ...(perPage === undefined ? {} : { per_page: perPage }) },
      subject,
      expected: { what: 'a page of videos ({ total, perPage, pagesCount, entities } with a numeric id in every entity)', test: isListPage },
      notFound: notVisible(ErrorCode.HTTP_STATUS, 'dataset', datasetId, serverAddress),
    });
  const first = await page(1, request.perPage);
  const videos = [...first.entities];
  for (let next = 2; next <= first.pagesCount; next++) {
    const { entities } = await page(next, first.perPage);
    // A server that counts more pages than it fills would otherwise be asked forever.
    if (entities.length === 0) break;
    videos.push(...entities);
  }
  if (videos.length !== first.total) {
    throw new FramepipeError(
      ErrorCode.INVALID_DATA,
      `${serverAddress} listed ${videos.length} videos of ${subject}, which it said holds ${first.total}: ` +
        `were videos added or removed while it was listed? List it again`,
      { source: request.url },
    );
  }
  return videos;
}

function isListPage(answer: Record<string, unknown>): boolean {
  const { total, perPage, pagesCount, entities } = answer;
  const count = (value: unknown) => Number.isSafeInteger(value) && (value as number) >= 0;
  return (
    count(total) &&
    count(perPage) &&
    count(pagesCount) &&
    Array.isArray(entities) &&
    entities.every((entity: unknown) => entity !== null && typeof entity === 'object' && typeof (entity as { id?: unknown }).id === 'number')
  );
}
