// The S3-protocol server the tests run on: s3rver, made as strict as S3 about multipart uploads, with the multipart calls it lacks.
import { createRequire } from 'node:module';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

const require = createRequire(import.meta.url);
const S3Error = require('s3rver/lib/models/error.js') as new (code: string, message: string) => Error;

/** S3's rules: every part but the last at least 5 MiB, part numbers 1 to 10,000. */
const MIN_PART = 5 << 20;
const MAX_PARTS = 10_000;

/** A completed multipart upload, as the tests may check it. */
export interface CompletedUpload {
  bucket: string;
  key: string;
  partSizes: number[];
}

export interface S3Server {
  endpoint: string;
  /** Multipart uploads completed so far, oldest first. */
  completed: CompletedUpload[];
  stop(): Promise<void>;
}

/** The part of s3rver's filesystem store used here (s3rver's types leave it out). */
interface MultipartStore {
  putObjectMultipart(bucket: string, uploadId: string, parts: Array<{ number: number; etag: string }>): Promise<{ md5: string; size: number }>;
}

interface Context {
  method: string;
  path: string;
  query: Record<string, string | undefined>;
  req: NodeJS.ReadableStream;
  status: number;
  body: unknown;
  type: string;
  set(name: string, value: string): void;
}

/**
 * s3rver on loopback, in a directory of its own. In front of it: AbortMultipartUpload and
 * ListMultipartUploads (s3rver answers 405 and 501), and S3's checks that s3rver skips: UploadPart
 * to a missing upload (NoSuchUpload) or with a part number outside 1..10,000 (InvalidArgument);
 * CompleteMultipartUpload with parts missing, mis-tagged or out of order (InvalidPart,
 * InvalidPartOrder), or a part but the last under 5 MiB (EntityTooSmall).
 */
export async function startS3Server(): Promise<S3Server> {
  const directory = await mkdtemp(join(tmpdir(), 'affix-s3rver-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory });
  const completed: CompletedUpload[] = [];
  const uploadsDir = (bucket: string) => join(directory, bucket, '._S3rver_uploads');
  const uploadDir = (bucket: string, uploadId: string) => {
    if (!/^[0-9a-f]+$/.test(uploadId)) throw new S3Error('NoSuchUpload', 'The specified upload does not exist.');
    return join(uploadsDir(bucket), uploadId);
  };
  const exists = (path: string) => stat(path).then(() => true, () => false);
  const requireUpload = async (bucket: string, uploadId: string) => {
    const dir = uploadDir(bucket, uploadId);
    if (!(await exists(join(dir, 'key')))) throw new S3Error('NoSuchUpload', 'The specified upload does not exist.');
    return dir;
  };

  const strict = async (ctx: Context, next: () => Promise<void>) => {
    const [, bucket = '', ...keyParts] = ctx.path.split('/');
    const key = decodeURIComponent(keyParts.join('/'));
    const { uploadId } = ctx.query;
    if (ctx.method === 'GET' && key === '' && 'uploads' in ctx.query) {
      const prefix = ctx.query.prefix ?? '';
      const entries = await readdir(uploadsDir(bucket)).catch(() => [] as string[]);
      const uploads: string[] = [];
      for (const id of entries.sort()) {
        const keyFile = join(uploadsDir(bucket), id, 'key');
        const [name, info] = await Promise.all([readFile(keyFile, 'utf8').catch(() => null), stat(keyFile).catch(() => null)]);
        if (name === null || !info || !name.startsWith(prefix)) continue;
        uploads.push(`<Upload><Key>${escape(name)}</Key><UploadId>${id}</UploadId><Initiated>${info.mtime.toISOString()}</Initiated></Upload>`);
      }
      ctx.type = 'application/xml';
      ctx.body = `<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult><Bucket>${escape(bucket)}</Bucket><Prefix>${escape(prefix)}</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>${uploads.join('')}</ListMultipartUploadsResult>`;
      return;
    }
    if (key === '' || uploadId === undefined) return next();
    if (ctx.method === 'DELETE') {
      await rm(await requireUpload(bucket, uploadId), { recursive: true, force: true });
      ctx.status = 204;
      return;
    }
    if (ctx.method === 'PUT') {
      const number = Number(ctx.query.partNumber);
      if (!Number.isInteger(number) || number < 1 || number > MAX_PARTS) throw new S3Error('InvalidArgument', `Part number must be an integer between 1 and ${MAX_PARTS}, inclusive`);
      await requireUpload(bucket, uploadId);
      return next();
    }
    if (ctx.method === 'POST') {
      const dir = await requireUpload(bucket, uploadId);
      let xml = '';
      for await (const data of ctx.req) xml += data.toString();
      const parts = [...xml.matchAll(/<Part>([\s\S]*?)<\/Part>/g)].map(([, body]) => ({
        number: Number(/<PartNumber>(\d+)<\/PartNumber>/.exec(body!)?.[1]),
        etag: (/<ETag>([\s\S]*?)<\/ETag>/.exec(body!)?.[1] ?? '').replace(/&quot;|"/g, ''),
      }));
      if (parts.length === 0) throw new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
      const sizes: number[] = [];
      for (const [i, part] of parts.entries()) {
        if (i > 0 && part.number <= parts[i - 1]!.number) throw new S3Error('InvalidPartOrder', 'The list of parts was not in ascending order.');
        const md5 = await readFile(join(dir, `${part.number}.md5`), 'utf8').catch(() => null);
        if (md5 === null || md5 !== part.etag) throw new S3Error('InvalidPart', 'One or more of the specified parts could not be found.');
        sizes.push((await stat(join(dir, String(part.number)))).size);
      }
      if (sizes.slice(0, -1).some((size) => size < MIN_PART)) throw new S3Error('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.');
      const { md5 } = await (server as unknown as { store: MultipartStore }).store.putObjectMultipart(bucket, uploadId, parts);
      completed.push({ bucket, key, partSizes: sizes });
      ctx.type = 'application/xml';
      ctx.body = `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult><Bucket>${escape(bucket)}</Bucket><Key>${escape(key)}</Key><ETag>"${md5}"</ETag></CompleteMultipartUploadResult>`;
      return;
    }
    return next();
  };
  // First of all, so its errors are rendered by s3rver's own error handler (S3's XML bodies).
  (server as unknown as { middleware: unknown[] }).middleware.unshift(strict);
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    completed,
    async stop() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
