// Tracker's users and fields: what real clients read around attachments (`/v2/myself`, `/v2/users/{id}`, `/v2/fields`).
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { notFound } from '../../core/errors.js';
import { parseId } from '../../core/ids.js';
import { IdParams, type TrackerOptions } from './params.js';
import { fieldsJson, userJson } from './render.js';

export async function userRoutes(instance: FastifyInstance, { core, baseUrl }: TrackerOptions): Promise<void> {
  const app = instance.withTypeProvider<TypeBoxTypeProvider>();

  app.get('/v2/myself', async (request) => userJson(baseUrl(request), request.actor.user));
  app.get('/v2/users/:id', { schema: { params: IdParams } }, async (request) => {
    const id = parseId(request.params.id);
    if (id === null) throw notFound('User');
    return userJson(baseUrl(request), await core.identity.getUser(request.actor, id));
  });
  app.get('/v2/fields', async (request) => fieldsJson(baseUrl(request)));
}
