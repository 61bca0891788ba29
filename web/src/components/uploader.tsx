// Uploads through tus (Uppy + its tus plugin): a drop zone and a picker, each file with progress, speed, time left, pause, resume and retry; limits checked before a byte goes.
import Uppy, { type UppyFile } from '@uppy/core';
import Tus from '@uppy/tus';
import type { ComponentChildren } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { errorMessage } from '../api';
import { formatBytes, formatDuration, formatSpeed } from '../format';
import { useSession } from '../session';

type Meta = Record<string, string>;
type Body = Record<string, never>;
type File = UppyFile<Meta, Body>;

interface Row {
  id: string;
  name: string;
  size: number;
  percent: number;
  uploaded: number;
  /** Bytes a second, smoothed. */
  speed: number;
  state: 'uploading' | 'paused' | 'done' | 'failed';
  error?: string;
}

export interface UploaderProps {
  /** `/v2/tus/` (Tracker) or `/api/v1/tus/` (Zulip). */
  endpoint: string;
  /** Where each file goes, read when it is added (`issue`, `entity`, … as the endpoint's metadata). */
  target: () => Meta;
  /** Each finished file's final answer (Tracker's attachment JSON, or Zulip's `{url, filename}`). */
  onUploaded: (answer: unknown) => void;
  /** When every file added has finished: the answers of this batch. */
  onAllDone?: (answers: unknown[]) => void;
  children?: ComponentChildren;
}

export function Uploader({ endpoint, target, onUploaded, onAllDone, children }: UploaderProps) {
  const { session, refresh } = useSession();
  const [rows, setRows] = useState<Row[]>([]);
  const [refused, setRefused] = useState<string[]>([]);
  const [dragging, setDragging] = useState(false);
  const picker = useRef<HTMLInputElement>(null);
  const samples = useRef(new Map<string, { at: number; bytes: number; speed: number }>());
  const answers = useRef<unknown[]>([]);
  const callbacks = useRef({ target, onUploaded, onAllDone });
  callbacks.current = { target, onUploaded, onAllDone };
  const limits = session.limits;

  const uppy = useMemo(() => {
    const instance = new Uppy<Meta, Body>({
      autoProceed: true,
      restrictions: { maxFileSize: limits.maxFileBytes },
      // Over the quota is refused here, before a byte is sent; the server refuses it too if sent anyway.
      onBeforeFileAdded: (file, files) => {
        const quota = limits.quotaBytes;
        if (quota === null) return true;
        const pending = Object.values(files).filter((f) => !f.progress.uploadComplete).reduce((n, f) => n + (f.size ?? 0), 0);
        if (limits.usedBytes + pending + (file.size ?? 0) <= quota) return true;
        setRefused((r) => [...r, `${file.name}: over your organization's quota (${formatBytes(limits.usedBytes)} of ${formatBytes(quota)} used)`]);
        return false;
      },
    });
    instance.use(Tus, { endpoint: new URL(endpoint, location.origin).toString(), retryDelays: [0, 1000, 3000, 5000], allowedMetaFields: true, removeFingerprintOnSuccess: true });
    return instance;
    // One uploader per page and endpoint.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [endpoint]);

  useEffect(() => {
    const render = () => {
      const now = performance.now();
      setRows(
        uppy.getFiles().map((file: File) => {
          const uploaded = file.progress.bytesUploaded || 0;
          const sample = samples.current.get(file.id);
          let speed = sample?.speed ?? 0;
          if (sample && now > sample.at && uploaded >= sample.bytes) {
            const current = ((uploaded - sample.bytes) * 1000) / (now - sample.at);
            speed = sample.speed === 0 ? current : sample.speed * 0.7 + current * 0.3;
          }
          if (!sample || now - sample.at > 250) samples.current.set(file.id, { at: now, bytes: uploaded, speed });
          const failed = file.error !== undefined && file.error !== null;
          return {
            id: file.id,
            name: file.name ?? 'file',
            size: file.size ?? 0,
            // 100 only once the server has answered: bytes sent are not yet bytes kept.
            percent: file.progress.uploadComplete ? 100 : Math.min(99, Math.floor(file.progress.percentage ?? 0)),
            uploaded,
            speed,
            state: file.progress.uploadComplete ? 'done' : failed ? 'failed' : file.isPaused ? 'paused' : 'uploading',
            ...(failed ? { error: String(file.error) } : {}),
          };
        }),
      );
    };
    const success = (_file: File | undefined, response: { body?: { xhr?: XMLHttpRequest } }) => {
      const text = response.body?.xhr?.responseText ?? '';
      const answer = text ? (JSON.parse(text) as unknown) : null;
      answers.current.push(answer);
      callbacks.current.onUploaded(answer);
    };
    const failure = (file: File | undefined, error: Error & { originalResponse?: { getStatus(): number; getBody(): string } | null }) => {
      // The server's own words when it refused (over the limit, over the quota, gone).
      const response = error.originalResponse;
      if (file && response) uppy.setFileState(file.id, { error: errorMessage(response.getStatus(), response.getBody()) });
      render();
    };
    const complete = () => {
      const batch = answers.current;
      answers.current = [];
      if (batch.length > 0) callbacks.current.onAllDone?.(batch);
      void refresh();
    };
    const fileAdded = (file: File) => uppy.setFileMeta(file.id, callbacks.current.target());
    const restricted = (file: File | undefined, error: Error) => setRefused((r) => [...r, `${file?.name ?? 'A file'}: ${error.message}`]);
    const listeners = [
      ['file-added', fileAdded],
      ['state-update', render],
      ['upload-success', success],
      ['upload-error', failure],
      ['complete', complete],
      ['restriction-failed', restricted],
    ] as Array<[never, never]>;
    for (const [event, listener] of listeners) uppy.on(event, listener);
    return () => {
      for (const [event, listener] of listeners) uppy.off(event, listener);
    };
  }, [uppy, refresh]);
  useEffect(() => () => uppy.destroy(), [uppy]);

  // The whole page takes dropped files, not only the drop zone.
  useEffect(() => {
    const carriesFiles = (e: DragEvent) => Array.from(e.dataTransfer?.types ?? []).includes('Files');
    const over = (e: DragEvent) => {
      if (!carriesFiles(e)) return;
      e.preventDefault();
      setDragging(true);
    };
    const leave = (e: DragEvent) => {
      if (e.relatedTarget === null) setDragging(false);
    };
    const drop = (e: DragEvent) => {
      if (!carriesFiles(e)) return;
      e.preventDefault();
      setDragging(false);
      add(e.dataTransfer?.files ?? null);
    };
    const listeners = [
      ['dragover', over],
      ['dragleave', leave],
      ['drop', drop],
    ] as const;
    for (const [event, listener] of listeners) document.addEventListener(event, listener);
    return () => {
      for (const [event, listener] of listeners) document.removeEventListener(event, listener);
    };
  });

  const add = (files: FileList | File[] | null) => {
    setRefused([]);
    for (const file of Array.from((files ?? []) as ArrayLike<globalThis.File>)) {
      try {
        uppy.addFile({ name: file.name, type: file.type, data: file, source: 'Local' });
      } catch {
        // Refused by a restriction: 'restriction-failed' said why.
      }
    }
  };

  return (
    <section class={dragging ? 'drop dragging' : 'drop'} aria-label="Drop files here">
      {dragging && (
        <div class="drop-overlay" aria-hidden="true">
          Drop files here
        </div>
      )}
      <div class="drop-head">
        <button type="button" class="primary" onClick={() => picker.current?.click()}>
          Upload files
        </button>
        <input
          ref={picker}
          type="file"
          multiple
          aria-label="Upload files"
          class="visually-hidden"
          tabIndex={-1}
          onChange={(e) => {
            add(e.currentTarget.files);
            e.currentTarget.value = '';
          }}
        />
        <span class="hint">or drop them here · up to {formatBytes(limits.maxFileBytes)} each</span>
        {children}
      </div>
      {refused.length > 0 && (
        <ul role="alert" class="error">
          {refused.map((message) => (
            <li key={message}>{message}</li>
          ))}
        </ul>
      )}
      {rows.length > 0 && (
        <ul class="uploads" aria-label="Uploads">
          {rows.map((row) => (
            <li key={row.id} class={`upload ${row.state}`}>
              <span class="name">{row.name}</span>
              <div role="progressbar" aria-label={`Uploading ${row.name}`} aria-valuemin={0} aria-valuemax={100} aria-valuenow={row.percent} class="bar">
                <span style={{ width: `${row.percent}%` }} />
              </div>
              <span class="detail">
                {row.state === 'done'
                  ? `Done · ${formatBytes(row.size)}`
                  : row.state === 'failed'
                    ? row.error
                    : `${row.percent}% · ${formatBytes(row.uploaded)} of ${formatBytes(row.size)} · ${formatSpeed(row.speed)} · ${formatDuration(row.speed > 0 ? (row.size - row.uploaded) / row.speed : Infinity)} left`}
              </span>
              <span class="row-actions">
                {(row.state === 'uploading' || row.state === 'paused') && (
                  <button type="button" onClick={() => uppy.pauseResume(row.id)} aria-label={`${row.state === 'paused' ? 'Resume' : 'Pause'} ${row.name}`}>
                    {row.state === 'paused' ? 'Resume' : 'Pause'}
                  </button>
                )}
                {row.state === 'failed' && (
                  <button type="button" onClick={() => void uppy.retryUpload(row.id)} aria-label={`Retry ${row.name}`}>
                    Retry
                  </button>
                )}
                <button type="button" onClick={() => uppy.removeFile(row.id)} aria-label={`${row.state === 'done' ? 'Dismiss' : 'Cancel'} ${row.name}`}>
                  {row.state === 'done' ? 'Dismiss' : 'Cancel'}
                </button>
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
