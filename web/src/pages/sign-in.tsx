// Sign-in: with a Tracker token and organization, or with a Zulip email and API key. The secret goes to the server once; the browser keeps only an HttpOnly cookie.
import { useState } from 'preact/hooks';
import { api, type Session } from '../api';

export function SignInPage({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = (read: (form: Map<string, string>) => { token: string; org: string } | { email: string; apiKey: string }) => async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    const form = new FormData(event.currentTarget as HTMLFormElement);
    try {
      onSignedIn(await api.signIn(read(new Map([...form.entries()].map(([k, v]) => [k, String(v)])))));
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
        <SignInForm
          title="Tracker"
          fields={[
            { name: 'token', label: 'Token', type: 'password', autoComplete: 'current-password' },
            { name: 'org', label: 'Organization', type: 'text', autoComplete: 'organization' },
          ]}
          busy={busy}
          onSubmit={submit((f) => ({ token: f.get('token')!, org: f.get('org')! }))}
        />
        <SignInForm
          title="Zulip"
          fields={[
            { name: 'email', label: 'Email', type: 'email', autoComplete: 'username' },
            { name: 'apiKey', label: 'API key', type: 'password', autoComplete: 'current-password' },
          ]}
          busy={busy}
          onSubmit={submit((f) => ({ email: f.get('email')!, apiKey: f.get('apiKey')! }))}
        />
      </div>
      <p class="hint">
        <code>npx affix user add --org &lt;org&gt; --login &lt;login&gt;</code> prints both.
      </p>
    </main>
  );
}

interface Field {
  name: string;
  label: string;
  type: 'text' | 'email' | 'password';
  autoComplete: string;
}

/** One way of signing in: its fields, each labelled, and a `Sign in` button. */
function SignInForm({ title, fields, busy, onSubmit }: { title: string; fields: Field[]; busy: boolean; onSubmit: (event: Event) => void }) {
  const id = `with-${title.toLowerCase()}`;
  return (
    <form aria-labelledby={id} onSubmit={onSubmit}>
      <h2 id={id}>{title}</h2>
      {fields.map((field) => (
        <label key={field.name}>
          {field.label}
          <input name={field.name} type={field.type} autoComplete={field.autoComplete} required />
        </label>
      ))}
      <button type="submit" disabled={busy}>
        Sign in
      </button>
    </form>
  );
}
