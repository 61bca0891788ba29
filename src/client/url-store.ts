// Where unfinished tus uploads' URLs are kept between runs: one JSON file, rewritten whole (a temporary file renamed over it).
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { PreviousUpload, UrlStorage } from 'tus-js-client';

type Entries = Record<string, Omit<PreviousUpload, 'urlStorageKey'>>;

/**
 * tus-js-client's `UrlStorage` in a file. Not its own FileUrlStorage: that one takes a lock file
 * which a process that exits right after its upload leaves behind, and the next run then fails for
 * ten seconds. Writes here are queued within the process and atomic on disk; two processes writing
 * at once may lose one's entry, which costs that upload its resumption, never its correctness.
 */
export class JsonUrlStorage implements UrlStorage {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly path: string) {}

  async findAllUploads(): Promise<PreviousUpload[]> {
    return this.found('tus::');
  }

  async findUploadsByFingerprint(fingerprint: string): Promise<PreviousUpload[]> {
    return this.found(`tus::${fingerprint}::`);
  }

  removeUpload(urlStorageKey: string): Promise<void> {
    return this.change((entries) => void delete entries[urlStorageKey]);
  }

  async addUpload(fingerprint: string, upload: PreviousUpload): Promise<string> {
    const key = `tus::${fingerprint}::${randomBytes(6).toString('hex')}`;
    const { urlStorageKey: _unused, ...kept } = upload;
    await this.change((entries) => void (entries[key] = kept));
    return key;
  }

  /** Once every change asked for so far is on disk. */
  settled(): Promise<void> {
    return this.queue.then(() => undefined);
  }

  private async found(prefix: string): Promise<PreviousUpload[]> {
    const entries = await this.read();
    return Object.entries(entries)
      .filter(([key]) => key.startsWith(prefix))
      .map(([urlStorageKey, upload]) => ({ ...upload, urlStorageKey }));
  }

  private async read(): Promise<Entries> {
    const text = await readFile(this.path, 'utf8').catch(() => '{}');
    try {
      return JSON.parse(text) as Entries;
    } catch {
      // A file cut by a crash: what it held is lost, uploads start over.
      return {};
    }
  }

  private change(edit: (entries: Entries) => void): Promise<void> {
    const next = this.queue.then(async () => {
      const entries = await this.read();
      edit(entries);
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      const temporary = `${this.path}.${process.pid}.tmp`;
      await writeFile(temporary, `${JSON.stringify(entries, null, 1)}\n`, { mode: 0o600 });
      await rename(temporary, this.path);
    });
    this.queue = next.catch(() => undefined);
    return next;
  }
}
