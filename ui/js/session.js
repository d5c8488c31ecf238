// The API token lives in this tab's sessionStorage only: never in a URL, a cookie or a log.
const KEY = 'statehouse.token';

export function getToken() {
  try { return sessionStorage.getItem(KEY); } catch { return null; }
}

export function setToken(token) {
  sessionStorage.setItem(KEY, token);
}

export function clearToken() {
  try { sessionStorage.removeItem(KEY); } catch { /* storage disabled */ }
}

// Tokens read pat.<account>.<token-id>.<secret>: the account is the token's own.
export function accountOf(token) {
  const parts = (token || '').split('.');
  return parts.length >= 4 ? parts[1] : null;
}
