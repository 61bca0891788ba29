// Sign-in: with a Tracker token and organization, or with a Zulip email and API key. The secret goes to the server once; the browser keeps only an HttpOnly cookie.
import { useState } from 'preact/hooks';
import { api, type Session } from '../api';

export function SignInPage({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = (read: (form: FormData) => { token: string; org: string } | { email: string; apiKey: string }) => async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await api.signIn(read(new FormData(event.currentTarget as HTMLFormElement))));
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="page sign-in">
      <h1>Sign in to Affix</h1>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <div class="forms">
        <form aria-labelledby="with-tracker" onSubmit={submit((f) => ({ token: String(f.get('token')), org: String(f.get('org')) }))}>
          <h2 id="with-tracker">Tracker</h2>
          <label>
            Token
            <input name="token" type="password" autoComplete="current-password" required />
          </label>
          <label>
            Organization
            <input name="org" autoComplete="organization" required />
          </label>
          <button type="submit" disabled={busy}>
            Sign in
          </button>
        </form>
        <form aria-labelledby="with-zulip" onSubmit={submit((f) => ({ email: String(f.get('email')), apiKey: String(f.get('apiKey')) }))}>
          <h2 id="with-zulip">Zulip</h2>
          <label>
            Email
            <input name="email" type="email" autoComplete="username" required />
          </label>
          <label>
            API key
            <input name="apiKey" type="password" autoComplete="current-password" required />
          </label>
          <button type="submit" disabled={busy}>
            Sign in
          </button>
        </form>
      </div>
      <p class="hint">
        <code>npx affix user add --org &lt;org&gt; --login &lt;login&gt;</code> prints both.
      </p>
    </main>
  );
}
