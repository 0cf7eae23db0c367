// Where the signed-in token lives: sessionStorage (this tab, gone when it closes) unless the user
// asked to stay signed in, then localStorage. Never in a URL, a cookie or a log line.

const KEY = 'gantry.token';

export function readToken(): string | null {
  return sessionStorage.getItem(KEY) ?? localStorage.getItem(KEY);
}

export function saveToken(token: string, remember: boolean): void {
  clearToken();
  (remember ? localStorage : sessionStorage).setItem(KEY, token);
}

export function clearToken(): void {
  sessionStorage.removeItem(KEY);
  localStorage.removeItem(KEY);
}
