// A file shown in place, through the download routes: images full size (with previous and next among the list's images), PDF (pdf.js), video, audio and text.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { FileJson } from '../api';
import { formatBytes } from '../format';
import { Dialog } from './dialog';
import { kindOf } from './file-kind';

/** Text past this is not shown (a download has it all). */
const TEXT_SHOWN = 256 * 1024;
/** Pages of a PDF drawn at most. */
const PDF_PAGES = 20;

export function Preview({ files, index, onIndex, onClose }: { files: FileJson[]; index: number; onIndex: (i: number) => void; onClose: () => void }) {
  const file = files[index]!;
  const kind = kindOf(file.mimetype);
  const images = files.map((f, i) => ({ f, i })).filter(({ f }) => kindOf(f.mimetype) === 'image');
  const at = images.findIndex(({ i }) => i === index);
  const step = (by: number) => {
    const next = images[(at + by + images.length) % images.length];
    if (next) onIndex(next.i);
  };
  return (
    <Dialog label={`Preview of ${file.name}`} onClose={onClose} wide>
      <div
        class="preview"
        onKeyDown={(e) => {
          if (kind !== 'image' || images.length < 2) return;
          if (e.key === 'ArrowRight') step(1);
          if (e.key === 'ArrowLeft') step(-1);
        }}
      >
        <header>
          <h2>{file.name}</h2>
          <span class="detail">
            {file.mimetype} · {formatBytes(file.size)}
            {file.metadata ? ` · ${file.metadata.size}` : ''}
          </span>
        </header>
        <div class="stage">
          {kind === 'image' && <img src={file.content} alt={file.name} />}
          {kind === 'video' && <video src={file.content} controls preload="metadata" />}
          {kind === 'audio' && <audio src={file.content} controls preload="metadata" />}
          {kind === 'text' && <TextPreview url={file.content} />}
          {kind === 'pdf' && <PdfPreview url={file.content} />}
          {!['image', 'video', 'audio', 'text', 'pdf'].includes(kind) && <p>No preview for this kind of file.</p>}
        </div>
        <div class="actions">
          {kind === 'image' && images.length > 1 && (
            <>
              <button type="button" onClick={() => step(-1)}>
                Previous
              </button>
              <button type="button" onClick={() => step(1)}>
                Next
              </button>
            </>
          )}
          <a href={file.content} download={file.name}>
            Download
          </a>
          <button type="button" onClick={onClose}>
            Close
          </button>
        </div>
      </div>
    </Dialog>
  );
}

function TextPreview({ url }: { url: string }) {
  const [text, setText] = useState<string | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    fetch(url, { headers: { range: `bytes=0-${TEXT_SHOWN - 1}` }, signal: controller.signal, credentials: 'same-origin' })
      .then((r) => r.text())
      .then(setText, () => setText('The text could not be read.'));
    return () => controller.abort();
  }, [url]);
  return <pre class="text">{text ?? 'Loading…'}</pre>;
}

/** pdf.js draws the pages into canvases: no plugin, no frame, nothing of the file's runs as script (eval off). */
function PdfPreview({ url }: { url: string }) {
  const holder = useRef<HTMLDivElement>(null);
  const [state, setState] = useState<'loading' | 'done' | string>('loading');
  useEffect(() => {
    let cancelled = false;
    let destroy: (() => void) | undefined;
    (async () => {
      const pdfjs = await import('pdfjs-dist');
      const worker = await import('pdfjs-dist/build/pdf.worker.min.mjs?url');
      pdfjs.GlobalWorkerOptions.workerSrc = worker.default;
      const task = pdfjs.getDocument({ url, isEvalSupported: false, withCredentials: true });
      destroy = () => void task.destroy();
      const pdf = await task.promise;
      for (let n = 1; n <= Math.min(pdf.numPages, PDF_PAGES) && !cancelled; n++) {
        const page = await pdf.getPage(n);
        const viewport = page.getViewport({ scale: 1.5 });
        const canvas = document.createElement('canvas');
        canvas.width = viewport.width;
        canvas.height = viewport.height;
        canvas.setAttribute('aria-label', `Page ${n}`);
        holder.current?.append(canvas);
        await page.render({ canvas, viewport }).promise;
      }
      if (!cancelled) setState(pdf.numPages > PDF_PAGES ? `The first ${PDF_PAGES} of ${pdf.numPages} pages.` : 'done');
    })().catch((err: unknown) => !cancelled && setState(`The PDF could not be shown: ${err instanceof Error ? err.message : String(err)}`));
    return () => {
      cancelled = true;
      destroy?.();
    };
  }, [url]);
  return (
    <div class="pdf" ref={holder}>
      {state === 'loading' && <p>Loading…</p>}
      {state !== 'loading' && state !== 'done' && <p>{state}</p>}
    </div>
  );
}
