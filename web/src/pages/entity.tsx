// A project's, portfolio's or goal's files, and uploads to it.
import { useRoute } from 'preact-iso';
import { api, ENTITY_TYPES, type EntityType } from '../api';
import { FileGrid } from '../components/file-grid';
import { Uploader } from '../components/uploader';
import { formatDate } from '../format';
import { useLoad } from '../use-load';

export function EntityPage() {
  const { params } = useRoute();
  const type = params.type as EntityType;
  const id = params.id!;
  const entity = useLoad(() => (ENTITY_TYPES.includes(type) ? api.entity(type, id) : Promise.reject(new Error(`No entity type ${type}`))), [type, id]);
  if (entity.error) return <p role="alert" class="error">{entity.error}</p>;
  if (!entity.data) return <p aria-busy="true">Loading…</p>;
  return (
    <article>
      <h1>
        <span class="key">
          {type} #{entity.data.shortId}
        </span>{' '}
        {entity.data.fields.summary}
      </h1>
      <p class="detail">
        {entity.data.createdBy.display} · <time dateTime={entity.data.createdAt}>{formatDate(entity.data.createdAt)}</time>
      </p>
      <Uploader endpoint="/v2/tus/" target={() => ({ entity: `${type}/${entity.data!.id}` })} onUploaded={() => void entity.reload()} />
      <h2>Files</h2>
      {(entity.data.attachments ?? []).length === 0 && <p>No files yet.</p>}
      <FileGrid
        files={entity.data.attachments ?? []}
        label="Files"
        onDelete={async (file) => {
          await api.deleteEntityFile(type, entity.data!.id, file.id);
          await entity.reload();
        }}
      />
    </article>
  );
}
