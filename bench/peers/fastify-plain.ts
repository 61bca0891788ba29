// The upload/download server a Node user writes by hand: Fastify, @fastify/multipart, files on disk.
import fastifyMultipart from '@fastify/multipart';
import Fastify from 'fastify';
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

const [dir = '.', port = '0'] = process.argv.slice(2);
const app = Fastify();
await app.register(fastifyMultipart, { limits: { fileSize: Infinity } });

app.post('/upload', async (request, reply) => {
  const file = await request.file();
  if (!file) return reply.code(400).send({ error: 'no file' });
  const id = randomUUID();
  await pipeline(file.file, createWriteStream(join(dir, id)));
  return reply.code(201).send({ id });
});

app.get<{ Params: { id: string } }>('/files/:id', async (request, reply) => {
  const path = join(dir, request.params.id.replace(/[^\w.-]/g, ''));
  const { size } = await stat(path);
  const range = /^bytes=(\d+)-(\d+)$/.exec(request.headers.range ?? '');
  if (range) {
    const [start, end] = [Number(range[1]), Math.min(Number(range[2]), size - 1)];
    return reply.code(206).header('content-range', `bytes ${start}-${end}/${size}`).header('content-length', end - start + 1).send(createReadStream(path, { start, end }));
  }
  return reply.header('content-length', size).send(createReadStream(path));
});

console.log(`listening ${await app.listen({ host: '127.0.0.1', port: Number(port) })}`);
