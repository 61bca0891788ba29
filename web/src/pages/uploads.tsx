// My uploads (Zulip's view): every file the user uploaded, the messages that link it, and the space used against the quota.
import { useState } from 'preact/hooks';
import { api, type ZulipUpload } from '../api';
import { ConfirmDelete } from '../components/dialog';
import { Uploader } from '../components/uploader';
import { formatBytes, formatDate } from '../format';
import { useSession } from '../session';
import { useLoad } from '../use-load';

export function UploadsPage() {
  const { session } = useSession();
  const uploads = useLoad(() => api.myUploads(), []);
  const [deleting, setDeleting] = useState<ZulipUpload | null>(null);
  const quota = session.limits.quotaBytes;
  const used = uploads.data?.upload_space_used ?? session.limits.usedBytes;
  return (
    <section aria-labelledby="uploads-title">
      <h1 id="uploads-title">My uploads</h1>
      <dl class="figures">
        <div>
          <dt id="space-used">Space used</dt>
          <dd aria-labelledby="space-used">
            {formatBytes(used)}
            {quota !== null ? ` of ${formatBytes(quota)}` : ' (no quota)'}
          </dd>
        </div>
      </dl>
      {quota !== null && <meter min={0} max={quota} value={used} high={quota * 0.9} aria-label="Space used of the quota" />}
      <Uploader endpoint="/api/v1/tus/" target={() => ({})} onUploaded={() => void uploads.reload()} />
      {uploads.error && <p role="alert" class="error">{uploads.error}</p>}
      {uploads.data && uploads.data.attachments.length === 0 && <p>You have uploaded nothing yet.</p>}
      {uploads.data && uploads.data.attachments.length > 0 && (
        <ul class="rows" aria-label="My uploads">
          {uploads.data.attachments.map((upload) => (
            <li key={upload.id} aria-label={upload.name}>
              <span>
                <strong>{upload.name}</strong>
                <span class="detail">
                  {formatBytes(upload.size)} · <time dateTime={new Date(upload.create_time).toISOString()}>{formatDate(upload.create_time)}</time> ·{' '}
                  {upload.messages.length === 0 ? 'linked by no message' : `linked by message ${upload.messages.map((m) => m.id).join(', ')}`}
                </span>
              </span>
              <span class="row-actions">
                <a href={`/user_uploads/${upload.path_id}`} download={upload.name} aria-label={`Download ${upload.name}`}>
                  Download
                </a>
                <button type="button" class="danger" aria-label={`Delete ${upload.name}`} onClick={() => setDeleting(upload)}>
                  Delete
                </button>
              </span>
            </li>
          ))}
        </ul>
      )}
      {deleting && (
        <ConfirmDelete
          name={deleting.name}
          onConfirm={async () => {
            await api.deleteUpload(deleting.id);
            await uploads.reload();
          }}
          onClose={() => setDeleting(null)}
        />
      )}
    </section>
  );
}
