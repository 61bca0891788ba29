// A search over the organization's file names: its issues' and entities' files, and the user's own.
import { useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { api } from '../api';
import { FileGrid } from '../components/file-grid';
import { Pager } from '../components/pager';
import { useLoad } from '../use-load';

export function SearchPage() {
  const { query } = useLocation();
  const q = (query.q ?? '').trim();
  const [page, setPage] = useState(1);
  const found = useLoad(() => (q ? api.searchFiles(q, page) : Promise.resolve({ items: [], total: 0, pages: 1 })), [q, page]);
  return (
    <section aria-labelledby="search-title">
      <h1 id="search-title">Files named “{q}”</h1>
      {found.error && <p role="alert" class="error">{found.error}</p>}
      {found.data && <p role="status">{found.data.total === 1 ? 'One file' : `${found.data.total} files`}</p>}
      {found.data && (
        <FileGrid
          files={found.data.items}
          label="Files found"
          onDelete={async (file) => {
            await api.deleteTemporary(file.id);
            await found.reload();
          }}
        />
      )}
      {found.data && <Pager page={page} pages={found.data.pages} onPage={setPage} />}
    </section>
  );
}
