// Zulip's server settings (`GET /api/v1/server_settings`) and the server part of `POST /api/v1/register`: what clients read before they upload.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Actor } from '../../core/identity.js';
import { parseList, readForm } from '../form.js';
import { authenticate, type ZulipOptions } from './params.js';
import { success } from './render.js';
import { ZULIP_THUMBNAIL_FORMATS } from './thumbnails.js';

/**
 * The feature level Affix advertises: that of the newest Zulip upload feature it implements (296:
 * `/api/v1/tus`; 285: `filename` in the `POST /user_uploads` answer and `detached_uploads` in message
 * edits; 273: `server_thumbnail_formats`; 272: `url`). It covers the upload, attachment and message
 * calls Affix serves, not the rest of Zulip's API.
 */
export const ZULIP_FEATURE_LEVEL = 296;
/** Zulip 10.0's API (feature level 296 is in 10.0), served by Affix. */
export const ZULIP_VERSION = '10.0-affix';

const MIB = 1 << 20;

/** Affix signs in with API keys only: no password, LDAP or social login to offer. */
const AUTHENTICATION_METHODS = {
  password: false,
  dev: false,
  email: false,
  ldap: false,
  remoteuser: false,
  github: false,
  azuread: false,
  gitlab: false,
  apple: false,
  google: false,
  saml: false,
  'openid connect': false,
};

export async function serverSettingsRoutes(app: FastifyInstance, { core, baseUrl, origins }: ZulipOptions): Promise<void> {
  /**
   * The realm is only known from credentials (Affix serves every organization on one host, as a
   * multi-subdomain Zulip serves its root domain): without valid ones the realm fields are left out.
   */
  const realmOf = (request: FastifyRequest): Promise<Actor | null> => authenticate(core, request, origins).catch(() => null);

  // No auth hook: Zulip answers this to anyone (the Python client calls it, with its credentials, before anything else).
  app.get('/api/v1/server_settings', async (request) => {
    const actor = await realmOf(request);
    return success({
      authentication_methods: AUTHENTICATION_METHODS,
      external_authentication_methods: [],
      zulip_feature_level: ZULIP_FEATURE_LEVEL,
      zulip_version: ZULIP_VERSION,
      zulip_merge_base: '',
      push_notifications_enabled: false,
      is_incompatible: false,
      email_auth_enabled: false,
      require_email_format_usernames: true,
      ...(actor
        ? { realm_uri: baseUrl(request), realm_url: baseUrl(request), realm_name: actor.org.name, realm_web_public_access_enabled: false }
        : {}),
    });
  });
}

/** `POST /api/v1/register`, authenticated: the versions always, the realm's upload limits when `realm` is fetched (or nothing is named). */
export async function registerRoutes(app: FastifyInstance, { core, baseUrl, timeouts }: ZulipOptions): Promise<void> {
  app.post('/api/v1/register', async (request) => {
    const form = await readForm(request, timeouts);
    const named = form.get('fetch_event_types') ?? form.get('event_types');
    const types = named === undefined || named.trim() === 'null' ? null : parseList(named);
    const { org } = request.actor;
    return success({
      // Affix has no event queues: `null`, as Zulip answers where it keeps none.
      queue_id: null,
      last_event_id: -1,
      zulip_feature_level: ZULIP_FEATURE_LEVEL,
      zulip_version: ZULIP_VERSION,
      zulip_merge_base: '',
      ...(types === null || types.includes('realm')
        ? {
            realm_url: baseUrl(request),
            realm_email_auth_enabled: false,
            realm_password_auth_enabled: false,
            max_file_upload_size_mib: Math.floor(core.attachments.uploadLimit(org) / MIB),
            realm_upload_quota_mib: org.uploadQuotaMib,
            server_thumbnail_formats: ZULIP_THUMBNAIL_FORMATS.map((f) => ({
              name: f.name,
              max_width: f.maxWidth,
              max_height: f.maxHeight,
              format: f.format,
              animated: f.animated,
            })),
          }
        : {}),
    });
  });
}
