// Queues and their issues, newest first, searched by key or summary; a new issue.
import { useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { api } from '../api';
import { Pager } from '../components/pager';
import { formatDate } from '../format';
import { useLoad } from '../use-load';

export function HomePage() {
  const { query, route } = useLocation();
  const queue = query.queue ?? '';
  const [text, setText] = useState(query.q ?? '');
  const [page, setPage] = useState(1);
  const queues = useLoad(() => api.queues(), []);
  const issues = useLoad(() => api.issues({ ...(queue ? { queue } : {}), ...(query.q ? { text: query.q } : {}), page }), [queue, query.q, page]);
  const go = (params: { queue?: string; q?: string }) => {
    const search = new URLSearchParams(Object.entries(params).filter(([, v]) => v) as Array<[string, string]>).toString();
    setPage(1);
    route(`/ui/${search ? `?${search}` : ''}`);
  };
  return (
    <div class="split">
      <aside aria-labelledby="queues-title">
        <h2 id="queues-title">Queues</h2>
        {queues.error && <p role="alert" class="error">{queues.error}</p>}
        <ul class="plain">
          <li>
            <a href="/ui/" aria-current={!queue ? 'true' : undefined}>
              All queues
            </a>
          </li>
          {queues.data?.map((q) => (
            <li key={q.key}>
              <a href={`/ui/?queue=${encodeURIComponent(q.key)}`} aria-current={queue === q.key ? 'true' : undefined}>
                {q.key}
              </a>
            </li>
          ))}
        </ul>
        <NewIssue defaultQueue={queue} onCreated={(key) => route(`/ui/issues/${key}`)} />
      </aside>
      <section aria-labelledby="issues-title">
        <h1 id="issues-title">{queue ? `Issues in ${queue}` : 'Issues'}</h1>
        <form
          role="search"
          class="inline"
          onSubmit={(e) => {
            e.preventDefault();
            go({ queue, q: text.trim() });
          }}
        >
          <input type="search" aria-label="Search issues by key or summary" placeholder="Key or summary" value={text} onInput={(e) => setText(e.currentTarget.value)} />
          <button type="submit">Search</button>
        </form>
        {issues.error && <p role="alert" class="error">{issues.error}</p>}
        {issues.data && issues.data.items.length === 0 && <p>No issues here yet.</p>}
        {issues.data && issues.data.items.length > 0 && (
          <ul class="rows" aria-label="Issues">
            {issues.data.items.map((issue) => (
              <li key={issue.id}>
                <a href={`/ui/issues/${issue.key}`}>
                  <strong>{issue.key}</strong> {issue.summary}
                </a>
                <span class="detail">
                  {issue.createdBy.display} · <time dateTime={issue.createdAt}>{formatDate(issue.createdAt)}</time>
                </span>
              </li>
            ))}
          </ul>
        )}
        {issues.data && <Pager page={page} pages={issues.data.pages} onPage={setPage} />}
      </section>
    </div>
  );
}

function NewIssue({ defaultQueue, onCreated }: { defaultQueue: string; onCreated: (key: string) => void }) {
  const [error, setError] = useState<string | null>(null);
  return (
    <form
      class="stack"
      aria-labelledby="new-issue"
      onSubmit={async (e) => {
        e.preventDefault();
        const form = new FormData(e.currentTarget);
        try {
          onCreated((await api.createIssue(String(form.get('queue')).trim().toUpperCase(), String(form.get('summary')).trim())).key);
        } catch (err) {
          setError(err instanceof Error ? err.message : String(err));
        }
      }}
    >
      <h2 id="new-issue">New issue</h2>
      {error && <p role="alert" class="error">{error}</p>}
      <label>
        Queue
        <input name="queue" required pattern="[A-Za-z][A-Za-z0-9]{0,31}" defaultValue={defaultQueue} />
      </label>
      <label>
        Summary
        <input name="summary" required maxLength={500} />
      </label>
      <button type="submit">Create issue</button>
    </form>
  );
}
