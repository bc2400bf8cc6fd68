import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, setToken } from '../lib/api';

interface Info {
  version: string;
  auth: boolean;
}

export function Login({ onLogin }: { onLogin: (token: string) => void }) {
  const [token, setTok] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const [info, setInfo] = useState<Info | null>(null);
  useEffect(() => {
    api<Info>('/api/console/info').then(setInfo, () => setInfo(null));
  }, []);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    setToken(token.trim());
    try {
      await api('/api/console/whoami');
      onLogin(token.trim());
    } catch (err) {
      setToken('');
      setError(err instanceof ApiError && err.kind === 'unauthorized' ? 'This token is not valid.' : String((err as Error).message));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login" id="main">
      <h1 id="page-title" tabIndex={-1}>
        hakone console
      </h1>
      <form onSubmit={submit} aria-describedby="login-help">
        <label for="token">API token</label>
        <input id="token" name="token" type="password" autoComplete="current-password" value={token} autoFocus
          onInput={(e) => setTok((e.target as HTMLInputElement).value)} />
        <button type="submit" disabled={busy}>
          {busy ? 'Checking…' : 'Log in'}
        </button>
        <p id="login-help" class="muted">
          {info && !info.auth
            ? 'This console has no tokens configured (loopback only): any value, or none, logs in.'
            : 'A token from [auth] tokens in hakone.toml. It is kept in this browser and sent as Authorization: Bearer.'}
        </p>
        {error && (
          <div class="error" role="alert">
            {error}
          </div>
        )}
      </form>
    </main>
  );
}
