// Sign-in: shown instead of the app when the server wants credentials and this browser has no
// session. A successful sign-in keeps the CSRF token for the session's writes.
import { useState } from "preact/hooks";
import { api, setCsrfToken, type SessionUser } from "../api/client";
import { ErrorBox } from "../components/common";

export function LoginPage(props: { onSignedIn: (user: SessionUser) => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    api
      .signIn(username.trim(), password)
      .then((answer) => {
        setCsrfToken(answer.csrf_token);
        props.onSignedIn(answer.user);
      })
      .catch(setError)
      .finally(() => setBusy(false));
  };
  return (
    <div class="page login-page">
      <form class="login-form" onSubmit={submit} data-testid="login-form">
        <h1>Sign in to Cairn</h1>
        <label>
          Username
          <input
            name="username"
            autocomplete="username"
            value={username}
            autoFocus
            onInput={(e) => setUsername((e.currentTarget as HTMLInputElement).value)}
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autocomplete="current-password"
            value={password}
            onInput={(e) => setPassword((e.currentTarget as HTMLInputElement).value)}
          />
        </label>
        <ErrorBox error={error} />
        <button class="primary" type="submit" disabled={busy || !username || !password}>
          Sign in
        </button>
        <p class="muted">
          Accounts are made with <code>cairn user create</code>; scripts use API tokens (<code>cairn token create</code>).
        </p>
      </form>
    </div>
  );
}
