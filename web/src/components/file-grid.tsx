// A list of files as cards: thumbnail or type icon, name, size, uploader, date; preview, download, copy link and delete (after asking).
import { useState } from 'preact/hooks';
import type { FileJson } from '../api';
import { formatBytes, formatDate } from '../format';
import { ConfirmDelete } from './dialog';
import { KindIcon } from './file-kind';
import { Preview } from './preview';

export function FileGrid({ files, label, onDelete }: { files: FileJson[]; label: string; onDelete: (file: FileJson) => Promise<void> }) {
  const [previewing, setPreviewing] = useState<number | null>(null);
  const [deleting, setDeleting] = useState<FileJson | null>(null);
  const [copied, setCopied] = useState<string | null>(null);
  if (files.length === 0) return null;
  const copy = async (file: FileJson) => {
    await navigator.clipboard.writeText(file.content).catch(() => undefined);
    setCopied(file.id);
    setTimeout(() => setCopied((id) => (id === file.id ? null : id)), 2000);
  };
  return (
    <>
      <ul role="list" aria-label={label} class="grid">
        {files.map((file, index) => (
          <li key={file.id} aria-label={file.name} class="card">
            <button type="button" class="thumb" aria-label={`Preview ${file.name}`} onClick={() => setPreviewing(index)}>
              {file.thumbnail ? <img src={file.thumbnail} alt={file.name} loading="lazy" decoding="async" /> : <KindIcon mimetype={file.mimetype} />}
            </button>
            <div class="meta">
              <span class="name" title={file.name}>
                {file.name}
              </span>
              <span class="detail">
                {formatBytes(file.size)} · {file.createdBy.display}
              </span>
              <time class="detail" dateTime={file.createdAt}>
                {formatDate(file.createdAt)}
              </time>
            </div>
            <div class="card-actions">
              <a href={file.content} download={file.name} aria-label={`Download ${file.name}`}>
                Download
              </a>
              <button type="button" aria-label={`Copy link to ${file.name}`} onClick={() => copy(file)}>
                {copied === file.id ? 'Copied' : 'Copy link'}
              </button>
              <button type="button" class="danger" aria-label={`Delete ${file.name}`} onClick={() => setDeleting(file)}>
                Delete
              </button>
            </div>
          </li>
        ))}
      </ul>
      {previewing !== null && files[previewing] && <Preview files={files} index={previewing} onIndex={setPreviewing} onClose={() => setPreviewing(null)} />}
      {deleting && <ConfirmDelete name={deleting.name} onConfirm={() => onDelete(deleting)} onClose={() => setDeleting(null)} />}
    </>
  );
}
