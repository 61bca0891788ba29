// Blobs made of parts on S3: one multipart upload per blob, parts sent one by one, the stored size checked on completion.
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  S3ServiceException,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { storageKey } from '../../core/ids.js';
import type { MultipartBlobs, StoredBlob } from './blob-store.js';

/** S3's own limits: 5 MiB at least for every part but the last, at most 10,000 parts. */
export const S3_MIN_PART_SIZE = 5 << 20;
export const S3_MAX_PARTS = 10_000;

export class S3Multipart implements MultipartBlobs {
  readonly minPartSize = S3_MIN_PART_SIZE;
  readonly maxParts = S3_MAX_PARTS;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    /** The object key of a blob key (checked to be one of ours). */
    private readonly objectKey: (key: string) => string,
  ) {}

  async begin(): Promise<{ key: string; session: string }> {
    const key = storageKey();
    const started = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
    if (!started.UploadId) throw new Error('the S3 server started a multipart upload without an UploadId');
    return { key, session: started.UploadId };
  }

  async putPart(key: string, session: string, number: number, data: Buffer): Promise<string> {
    if (!Number.isInteger(number) || number < 1 || number > this.maxParts) throw new Error(`part number ${number} is outside 1..${this.maxParts}`);
    const stored = await this.client.send(
      new UploadPartCommand({ Bucket: this.bucket, Key: this.objectKey(key), UploadId: session, PartNumber: number, Body: data, ContentLength: data.length }),
    );
    if (!stored.ETag) throw new Error(`the S3 server stored part ${number} without an ETag`);
    return stored.ETag;
  }

  async complete(key: string, session: string, tags: string[], size: number): Promise<StoredBlob> {
    if (tags.length === 0 || tags.length > this.maxParts) throw new Error(`a multipart blob has 1 to ${this.maxParts} parts, not ${tags.length}`);
    try {
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: this.objectKey(key),
          UploadId: session,
          MultipartUpload: { Parts: tags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
        }),
      );
    } catch (err) {
      // Completed before (a crash between completion and recording, then a retry): the object answers for it.
      if (!isGone(err) || (await this.storedSize(key)) !== size) throw err;
      return { key, size };
    }
    // A completion some servers acknowledge without the bytes (tusd#497): the size is checked, not trusted.
    const stored = await this.storedSize(key);
    if (stored !== size) {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      throw new Error(`the multipart blob ${key} holds ${stored ?? 'no'} bytes, not ${size}`);
    }
    return { key, size };
  }

  async abort(key: string, session: string): Promise<void> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.objectKey(key), UploadId: session }));
    } catch (err) {
      if (!isGone(err)) throw err;
    }
  }

  private async storedSize(key: string): Promise<number | null> {
    try {
      return (await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }))).ContentLength ?? 0;
    } catch (err) {
      if (isGone(err)) return null;
      throw err;
    }
  }
}

/** NoSuchUpload, NoSuchKey, or a bare 404. */
export function isGone(err: unknown): boolean {
  return err instanceof S3ServiceException && (err.name === 'NoSuchUpload' || err.name === 'NoSuchKey' || err.name === 'NotFound' || err.$metadata.httpStatusCode === 404);
}
