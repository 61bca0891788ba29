// Zulip's thumbnails (Zulip 9+): `/user_uploads/thumbnail/<path_id>/<format>`, in the formats `server_thumbnail_formats` advertises.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { notFound } from '../../core/errors.js';
import type { ThumbnailSpec } from '../../media/thumbnailer.js';
import { servedThumbnail } from '../content.js';
import { pathIdOf, type UploadPathRequest, type ZulipOptions } from './params.js';

export interface ZulipThumbnailFormat {
  /** The last path segment of the thumbnail's URL. */
  name: string;
  maxWidth: number;
  maxHeight: number;
  format: 'webp';
  /** Made only of animated images, and animated itself. */
  animated: boolean;
}

/** Zulip's own two formats: 840x560 WebP, still and animated. */
export const ZULIP_THUMBNAIL_FORMATS: readonly ZulipThumbnailFormat[] = [
  { name: '840x560.webp', maxWidth: 840, maxHeight: 560, format: 'webp', animated: false },
  { name: '840x560-anim.webp', maxWidth: 840, maxHeight: 560, format: 'webp', animated: true },
];

const SPECS = new Map<string, ThumbnailSpec>(
  ZULIP_THUMBNAIL_FORMATS.map((f) => [f.name, { variant: f.name, width: f.maxWidth, height: f.maxHeight, format: f.format, animated: f.animated }]),
);

export async function thumbnailRoutes(app: FastifyInstance, { core, send }: ZulipOptions): Promise<void> {
  // `<realm>/<rest of path_id>/<format>`: the last segment names the format, the rest the file.
  const handler = async (request: UploadPathRequest, reply: FastifyReply) => {
    const rest = request.params['*'];
    const cut = rest.lastIndexOf('/');
    const spec = cut > 0 ? SPECS.get(rest.slice(cut + 1)) : undefined;
    if (!spec) throw notFound('Thumbnail');
    const attachment = await core.attachments.getByPath(request.actor, pathIdOf(request.params.realm, rest.slice(0, cut), request.actor));
    return send(request, reply, servedThumbnail(attachment, await core.thumbnails.get(attachment, spec)));
  };
  app.route({ method: ['GET', 'HEAD'], url: '/user_uploads/thumbnail/:realm/*', handler });
}
