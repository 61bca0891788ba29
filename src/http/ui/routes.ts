// The web UI's own HTTP: sign-in and sign-out (the session cookie), what the pages need that neither dialect has (usage, a file search), and the built pages themselves.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Affix } from '../../core/affix.js';
import { AffixError } from '../../core/errors.js';
import type { Actor } from '../../core/identity.js';
import type { Attachment } from '../../core/model.js';
import type { SignIn } from '../../core/sessions.js';
import type { UsageReport } from '../../core/usage.js';
import { parseCredential } from '../credentials.js';
import { clearSessionCookie, requireOwnOrigin, sessionActor, sessionSecret, setSessionCookie, type Origins } from '../session.js';
import { paginate } from '../tracker/pagination.js';
import { attachmentJson, userRef } from '../tracker/render.js';
import { uiPages } from './pages.js';

export interface UiOptions {
  core: Affix;
  baseUrl: (request: FastifyRequest) => string;
  origins: Origins;
}

const SignInBody = Type.Union([
  Type.Object({ token: Type.String({ minLength: 1, maxLength: 512 }), org: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false }),
  Type.Object({ email: Type.String({ minLength: 1, maxLength: 320 }), apiKey: Type.String({ minLength: 1, maxLength: 512 }) }, { additionalProperties: false }),
]);
const FileQuery = Type.Object({
  q: Type.Optional(Type.String({ maxLength: 200 })),
  mine: Type.Optional(Type.Boolean()),
  perPage: Type.Optional(Type.String()),
  page: Type.Optional(Type.String()),
});

/** `/ui/api/...` answers errors in Tracker's body (`errorMessages`), as the rest of Affix outside Zulip's paths does. */
export async function uiRoutes(instance: FastifyInstance, { core, baseUrl, origins }: UiOptions): Promise<void> {
  const app = instance.withTypeProvider<TypeBoxTypeProvider>();
  const secure = (request: FastifyRequest) => baseUrl(request).startsWith('https:');

  /** The session's user, or (for scripts and curl) a Tracker token with its org header, or a Zulip Basic pair. */
  const actorOf = async (request: FastifyRequest): Promise<Actor> => {
    const signedIn = await sessionActor(core, request, origins);
    if (signedIn) return signedIn;
    const credential = parseCredential(request.headers.authorization);
    if (credential?.kind === 'basic') return core.identity.authenticateApiKey(credential.email, credential.apiKey);
    const org = request.headers['x-org-id'];
    return core.identity.authenticate(credential?.kind === 'token' ? credential.token : undefined, typeof org === 'string' ? org : undefined);
  };

  const sessionJson = async (actor: Actor) => ({
    user: { id: actor.user.id, login: actor.user.login, display: actor.user.display, email: actor.user.email },
    org: { id: actor.org.extId, realmId: actor.org.id, name: actor.org.name },
    limits: {
      maxFileBytes: core.attachments.uploadLimit(actor.org),
      quotaBytes: actor.org.uploadQuotaMib === null ? null : actor.org.uploadQuotaMib * (1 << 20),
      usedBytes: await core.attachments.spaceUsed(actor),
    },
  });

  // Signing in is a write too: from Affix's own pages only, so no other site can sign a browser in.
  app.post('/ui/api/session', { schema: { body: SignInBody } }, async (request, reply) => {
    requireOwnOrigin(request, origins);
    const body = request.body;
    const credentials: SignIn =
      'token' in body ? { kind: 'tracker', token: body.token.trim(), org: body.org.trim() } : { kind: 'zulip', email: body.email, apiKey: body.apiKey.trim() };
    const session = await core.sessions.signIn(credentials);
    // This browser's earlier session, if any, ends: a sign-in never leaves two behind.
    const previous = sessionSecret(request);
    if (previous) await core.sessions.signOut(previous);
    setSessionCookie(reply, session.secret, session.expiresAt, secure(request));
    return sessionJson(session.actor);
  });

  app.get('/ui/api/session', async (request) => sessionJson(await actorOf(request)));

  app.delete('/ui/api/session', async (request, reply) => {
    const secret = sessionSecret(request);
    if (secret) {
      requireOwnOrigin(request, origins);
      await core.sessions.signOut(secret);
    }
    clearSessionCookie(reply, secure(request));
    return reply.code(204).send();
  });

  app.get('/ui/api/usage', async (request) => {
    return usageJson(baseUrl(request), await core.usage.report(await actorOf(request)));
  });

  // A search of file names (`mine=true`: the caller's own files, any name), paginated as Tracker's lists are (perPage, page; X-Total-Count).
  app.get('/ui/api/files', { schema: { querystring: FileQuery } }, async (request, reply) => {
    const actor = await actorOf(request);
    const text = (request.query.q ?? '').trim();
    const mine = request.query.mine === true;
    if (!text && !mine) throw new AffixError('bad_request', 'q (a part of the name) is required, unless mine=true');
    const base = baseUrl(request);
    return paginate(
      request,
      reply,
      base,
      (page) => core.usage.searchFiles(actor, text, page ?? { limit: 50, offset: 0 }, mine),
      () => core.usage.countFiles(actor, text, mine),
      (a) => foundFileJson(base, a),
    );
  });

  await app.register(uiPages);
}

/** The usage report as `/ui/api/usage` answers it: files as Tracker renders them, with their issue. */
export function usageJson(base: string, report: UsageReport) {
  return {
    ...report,
    largest: report.largest.map((a) => ({ ...attachmentJson(base, a), issueKey: a.issueKey })),
    uploaders: report.uploaders.map((u) => ({ user: { ...userRef(base, u.user), login: u.user.login }, files: u.files, bytes: u.bytes })),
  };
}

/** A file the name search found: Tracker's JSON, where it is, and whether it is a temporary upload. */
export function foundFileJson(base: string, a: Attachment) {
  return { ...attachmentJson(base, a), issueKey: a.issueKey, entityId: a.entityId, temporary: a.expiresAt !== null };
}
