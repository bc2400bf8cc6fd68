import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';

export function Loading({ what }: { what?: string }) {
  return (
    <div class="loading" role="status" aria-live="polite">
      Loading{what ? ` ${what}` : ''}…
    </div>
  );
}

// The error box: "component not running" is its own state, with what to start.
export function ErrorBox({ error, component }: { error: unknown; component?: string }) {
  if (error instanceof ApiError && error.kind === 'not_running') {
    return (
      <div class="error not-running" role="alert" data-state="not-running">
        <strong>{component ?? 'This component'} is not running.</strong> {error.message}
      </div>
    );
  }
  if (error instanceof ApiError && error.kind === 'forbidden') {
    return (
      <div class="error" role="alert" data-state="forbidden">
        <strong>Not allowed with this token.</strong> {error.message}
      </div>
    );
  }
  return (
    <div class="error" role="alert" data-state="error">
      <strong>Error.</strong> {error instanceof Error ? error.message : String(error)}
    </div>
  );
}

export interface Async<T> {
  data?: T;
  error?: unknown;
  loading: boolean;
}

// Runs `fn` whenever `key` changes; a newer run wins over an older one still in flight.
export function useAsync<T>(fn: () => Promise<T>, key: string): Async<T> & { reload: () => void } {
  const [state, setState] = useState<Async<T>>({ loading: true });
  const [n, setN] = useState(0);
  const seq = useRef(0);
  useEffect(() => {
    const my = ++seq.current;
    setState((s) => ({ data: s.data, loading: true }));
    fn().then(
      (data) => my === seq.current && setState({ data, loading: false }),
      (error) => my === seq.current && setState({ error, loading: false }),
    );
  }, [key, n]);
  return { ...state, reload: () => setN((x) => x + 1) };
}

export function Panel({ title, children, id }: { title: string; children: ComponentChildren; id?: string }) {
  return (
    <section class="panel" aria-labelledby={id ? `${id}-h` : undefined} id={id}>
      <h2 id={id ? `${id}-h` : undefined}>{title}</h2>
      {children}
    </section>
  );
}

export function JsonView({ value }: { value: unknown }) {
  return <pre class="json">{JSON.stringify(value, null, 2)}</pre>;
}
