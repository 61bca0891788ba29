// The Tracker dialect (`/v2`, and `/v3` rewritten to it): its auth, then one route file per section of Tracker's docs.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Actor } from '../../core/identity.js';
import { AffixError } from '../../core/errors.js';
import { parseCredential } from '../credentials.js';
import { sessionActor } from '../session.js';
import { mayReuseLogin } from '../login-reuse.js';
import { attachmentRoutes } from './attachments.js';
import { commentRoutes } from './comments.js';
import { entityRoutes } from './entities.js';
import { issueRoutes } from './issues.js';
import { trackerTusRoutes } from './tus.js';
import type { TrackerOptions } from './params.js';
import { userRoutes } from './users.js';

declare module 'fastify' {
  interface FastifyRequest {
    actor: Actor;
  }
}

export async function trackerRoutes(app: FastifyInstance, options: TrackerOptions): Promise<void> {
  const { core } = options;
  app.decorateRequest('actor', null as unknown as Actor);

  app.addHook('onRequest', async (request) => {
    const credential = parseCredential(request.headers.authorization);
    const signedIn = credential ? null : await sessionActor(core, request, options.origins);
    if (signedIn) {
      const org = orgHeader(request);
      if (org !== undefined && org !== signedIn.org.extId) throw new AffixError('forbidden', `You are not a member of organization ${org}`);
      request.actor = signedIn;
      return;
    }
    const token = credential?.kind === 'token' ? credential.token : undefined;
    request.actor = await core.identity.authenticate(token, orgHeader(request), { reuse: mayReuseLogin(request) });
  });

  for (const section of [userRoutes, issueRoutes, commentRoutes, attachmentRoutes, entityRoutes, trackerTusRoutes]) await app.register(section, options);
}

/** `X-Cloud-Org-ID` wins over `X-Org-ID`; the Python client's literal `not provided` means none. */
function orgHeader(request: FastifyRequest): string | undefined {
  for (const name of ['x-cloud-org-id', 'x-org-id']) {
    const value = request.headers[name];
    const text = (Array.isArray(value) ? value[0] : value)?.trim();
    if (text && text !== 'not provided') return text;
  }
  return undefined;
}
