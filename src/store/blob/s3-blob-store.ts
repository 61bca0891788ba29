// The BlobStore on S3-compatible object storage.
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { storageKey } from '../../core/ids.js';
import type { BlobStore, ByteRange, DownloadHeaders, ResumableStorage, StoredBlob } from './blob-store.js';
import { isGone, S3_MIN_PART_SIZE, S3Multipart } from './s3-multipart.js';

export interface S3Config {
  /** Endpoint URL (MinIO, Ceph RGW, …); null: AWS's own endpoint for the region. */
  endpoint: string | null;
  bucket: string;
  region: string;
  /** Static credentials; null: the AWS SDK's default chain (environment, profile, instance role). */
  credentials: { accessKeyId: string; secretAccessKey: string } | null;
  forcePathStyle: boolean;
  /** Downloads redirect (302) to a presigned URL instead of streaming through Affix. */
  presignDownloads: boolean;
}

const KEY = /^[0-9a-f]{32}$/;
const PREFIX = 'blobs/';
/** Each part is buffered in memory while it uploads: memory per upload is at most PART_SIZE x PART_CONCURRENCY. */
const PART_SIZE = S3_MIN_PART_SIZE;
const PART_CONCURRENCY = 2;

/**
 * Blobs as objects `blobs/<key>` in one bucket of AWS S3, MinIO, Ceph RGW or any S3-protocol server.
 * A write is one multipart upload (one PutObject when small), which S3 makes visible only once complete.
 */
export class S3BlobStore implements BlobStore {
  private readonly client: S3Client;
  /** A resumable upload's bytes go to one multipart upload, part by part. */
  readonly resumable: ResumableStorage;

  constructor(private readonly config: S3Config) {
    this.client = new S3Client({
      region: config.region,
      forcePathStyle: config.forcePathStyle,
      // Checksums only where S3 demands them: third-party servers (MinIO, Ceph, older RGW) reject some of the new ones.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      ...(config.credentials ? { credentials: config.credentials } : {}),
    });
    this.resumable = { kind: 'parts', parts: new S3Multipart(this.client, config.bucket, (key) => this.objectKey(key)) };
  }

  private objectKey(key: string): string {
    // Keys of our own shape only: no input names an object.
    if (!KEY.test(key)) throw new Error(`invalid blob key ${JSON.stringify(key)}`);
    return PREFIX + key;
  }

  async write(source: Readable): Promise<StoredBlob> {
    const key = storageKey();
    let bytes = 0;
    const body = new Transform({
      highWaterMark: 1 << 20,
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        done(null, chunk);
      },
    });
    // lib-storage pulls from the body only as parts are needed, so the source waits while parts upload.
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.config.bucket, Key: this.objectKey(key), Body: body },
      partSize: PART_SIZE,
      queueSize: PART_CONCURRENCY,
      // A failed upload aborts its multipart upload, so no parts are left behind.
      leavePartsOnError: false,
    });
    const uploaded = upload.done().catch((err: unknown) => {
      body.destroy(err as Error);
      throw err;
    });
    const [fed, stored] = await Promise.allSettled([pipeline(source, body), uploaded]);
    if (fed.status === 'rejected') {
      // The source's own failure explains more than the abort that followed it.
      if (stored.status === 'fulfilled') await this.delete(key);
      throw fed.reason;
    }
    if (stored.status === 'rejected') throw stored.reason;
    return { key, size: bytes };
  }

  async read(key: string, range?: ByteRange): Promise<Readable | null> {
    try {
      const object = await this.client.send(
        new GetObjectCommand({
          Bucket: this.config.bucket,
          Key: this.objectKey(key),
          ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
      );
      return object.Body as Readable;
    } catch (err) {
      if (isGone(err)) return null;
      throw err;
    }
  }

  async size(key: string): Promise<number | null> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.config.bucket, Key: this.objectKey(key) }));
      return head.ContentLength ?? 0;
    } catch (err) {
      if (isGone(err)) return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    // S3 answers 204 for a missing key too.
    await this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: this.objectKey(key) }));
  }

  localPath(): null {
    return null;
  }

  relativePath(): null {
    return null;
  }

  async downloadUrl(key: string, headers: DownloadHeaders, expiresInSeconds: number): Promise<string | null> {
    if (!this.config.presignDownloads) return null;
    const command = new GetObjectCommand({
      Bucket: this.config.bucket,
      Key: this.objectKey(key),
      // S3 sends these instead of the object's own, so the browser gets the same safe headers Affix sends.
      ResponseContentType: headers.contentType,
      ResponseContentDisposition: headers.contentDisposition,
      ResponseCacheControl: 'private',
    });
    return getSignedUrl(this.client, command, { expiresIn: expiresInSeconds });
  }

  async *listOlderThan(before: number): AsyncIterable<string> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.config.bucket, Prefix: PREFIX, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) {
        const key = object.Key?.slice(PREFIX.length) ?? '';
        if (KEY.test(key) && object.LastModified && object.LastModified.getTime() < before) yield key;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** Aborts multipart uploads a crashed node left unfinished, but for those `inUse` names (unfinished resumable uploads); servers without the listing call report 0. */
  async sweepStaging(before: number, inUse: (keys: string[]) => Promise<Set<string>>): Promise<number> {
    let aborted = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListMultipartUploadsCommand({ Bucket: this.config.bucket, Prefix: PREFIX, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
        );
        const old = (page.Uploads ?? []).filter((u) => u.Key && u.UploadId && u.Initiated && u.Initiated.getTime() < before && KEY.test(u.Key.slice(PREFIX.length)));
        const used = await inUse(old.map((u) => u.Key!.slice(PREFIX.length)));
        for (const upload of old) {
          if (used.has(upload.Key!.slice(PREFIX.length))) continue;
          await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.config.bucket, Key: upload.Key, UploadId: upload.UploadId }));
          aborted++;
        }
        keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
        uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
      } while (keyMarker);
    } catch (err) {
      if (err instanceof S3ServiceException && err.name === 'NotImplemented') return aborted;
      throw err;
    }
    return aborted;
  }

  /** Every blob is an object of its own: deleting it freed its space. */
  async reclaim(): Promise<number> {
    return 0;
  }

  close(): void {
    this.client.destroy();
  }
}
