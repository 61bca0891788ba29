// Projects, portfolios and goals: searched by summary, newest first; a new one.
import { useState } from 'preact/hooks';
import { useLocation, useRoute } from 'preact-iso';
import { api, ENTITY_TYPES, type EntityType } from '../api';
import { Pager } from '../components/pager';
import { formatDate } from '../format';
import { useLoad } from '../use-load';

export function EntitiesPage() {
  const { params } = useRoute();
  const { route } = useLocation();
  const type: EntityType = (ENTITY_TYPES as readonly string[]).includes(params.type ?? '') ? (params.type as EntityType) : 'project';
  const [text, setText] = useState('');
  const [search, setSearch] = useState('');
  const [page, setPage] = useState(1);
  const [error, setError] = useState<string | null>(null);
  const list = useLoad(() => api.entities(type, search, page), [type, search, page]);
  return (
    <section aria-labelledby="entities-title">
      <h1 id="entities-title">Entities</h1>
      <nav class="tabs" aria-label="Entity types">
        {ENTITY_TYPES.map((t) => (
          <a key={t} href={`/ui/entities/${t}`} aria-current={t === type ? 'page' : undefined} onClick={() => setPage(1)}>
            {t[0]!.toUpperCase() + t.slice(1)}s
          </a>
        ))}
      </nav>
      <form
        role="search"
        class="inline"
        onSubmit={(e) => {
          e.preventDefault();
          setPage(1);
          setSearch(text.trim());
        }}
      >
        <input type="search" aria-label={`Search ${type}s by summary`} placeholder="Summary" value={text} onInput={(e) => setText(e.currentTarget.value)} />
        <button type="submit">Search</button>
      </form>
      {list.error && <p role="alert" class="error">{list.error}</p>}
      {list.data && list.data.items.length === 0 && <p>No {type}s here yet.</p>}
      {list.data && list.data.items.length > 0 && (
        <ul class="rows" aria-label={`${type[0]!.toUpperCase()}${type.slice(1)}s`}>
          {list.data.items.map((entity) => (
            <li key={entity.id}>
              <a href={`/ui/entities/${type}/${entity.id}`}>
                <strong>#{entity.shortId}</strong> {entity.fields.summary}
              </a>
              <span class="detail">
                {entity.createdBy.display} · <time dateTime={entity.createdAt}>{formatDate(entity.createdAt)}</time>
              </span>
            </li>
          ))}
        </ul>
      )}
      {list.data && <Pager page={page} pages={list.data.pages} onPage={setPage} />}
      <form
        class="stack narrow"
        aria-labelledby="new-entity"
        onSubmit={async (e) => {
          e.preventDefault();
          const summary = String(new FormData(e.currentTarget).get('summary')).trim();
          try {
            const made = await api.createEntity(type, summary);
            route(`/ui/entities/${type}/${made.id}`);
          } catch (err) {
            setError(err instanceof Error ? err.message : String(err));
          }
        }}
      >
        <h2 id="new-entity">New {type}</h2>
        {error && <p role="alert" class="error">{error}</p>}
        <label>
          Summary
          <input name="summary" required maxLength={500} />
        </label>
        <button type="submit">Create {type}</button>
      </form>
    </section>
  );
}
