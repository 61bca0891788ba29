// The app: sign-in until there is a session, then the pages under one header, routed in the browser.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { LocationProvider, Route, Router, useLocation } from 'preact-iso';
import { api, ApiError, type Session } from './api';
import { EntitiesPage } from './pages/entities';
import { EntityPage } from './pages/entity';
import { HomePage } from './pages/home';
import { IssuePage } from './pages/issue';
import { SearchPage } from './pages/search';
import { SignInPage } from './pages/sign-in';
import { UploadsPage } from './pages/uploads';
import { UsagePage } from './pages/usage';
import { SessionContext } from './session';

export function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [failure, setFailure] = useState<string | null>(null);
  const refresh = useCallback(async () => {
    try {
      setSession(await api.session());
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) setSession(null);
      else setFailure(err instanceof Error ? err.message : String(err));
    }
  }, []);
  useEffect(() => void refresh(), [refresh]);

  if (failure) return <p role="alert" class="page">Affix could not be reached: {failure}</p>;
  if (session === undefined) return <p class="page" aria-busy="true">Loading…</p>;
  if (session === null) return <SignInPage onSignedIn={setSession} />;
  return (
    <SessionContext.Provider value={{ session, refresh }}>
      <LocationProvider scope="/ui">
        <Header session={session} onSignedOut={() => setSession(null)} />
        <main id="main" class="page">
          <Router>
            <Route path="/ui/" component={HomePage} />
            <Route path="/ui/issues/:key" component={IssuePage} />
            <Route path="/ui/entities" component={EntitiesPage} />
            <Route path="/ui/entities/:type" component={EntitiesPage} />
            <Route path="/ui/entities/:type/:id" component={EntityPage} />
            <Route path="/ui/uploads" component={UploadsPage} />
            <Route path="/ui/search" component={SearchPage} />
            <Route path="/ui/usage" component={UsagePage} />
            <Route default component={NotFound} />
          </Router>
        </main>
      </LocationProvider>
    </SessionContext.Provider>
  );
}

function Header({ session, onSignedOut }: { session: Session; onSignedOut: () => void }) {
  const { path } = useLocation();
  const [query, setQuery] = useState('');
  const { route } = useLocation();
  const link = (href: string, label: string) => (
    <a href={href} aria-current={path === href || (href !== '/ui/' && path.startsWith(href)) ? 'page' : undefined}>
      {label}
    </a>
  );
  return (
    <header class="top">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <a class="brand" href="/ui/">
        Affix
      </a>
      <nav aria-label="Main">
        {link('/ui/', 'Issues')}
        {link('/ui/entities', 'Entities')}
        {link('/ui/uploads', 'My uploads')}
        {link('/ui/usage', 'Usage')}
      </nav>
      <form
        role="search"
        class="find"
        onSubmit={(e) => {
          e.preventDefault();
          if (query.trim()) route(`/ui/search?q=${encodeURIComponent(query.trim())}`);
        }}
      >
        <input type="search" aria-label="Search files" placeholder="Search files" value={query} onInput={(e) => setQuery(e.currentTarget.value)} />
      </form>
      <span class="who">
        {session.user.display} · {session.org.id}
      </span>
      <button
        type="button"
        onClick={async () => {
          await api.signOut().catch(() => undefined);
          onSignedOut();
        }}
      >
        Sign out
      </button>
    </header>
  );
}

function NotFound() {
  return (
    <section>
      <h1>Not found</h1>
      <p>
        There is no page here. <a href="/ui/">Back to the issues</a>.
      </p>
    </section>
  );
}
