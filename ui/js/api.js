// The one HTTP client of the console: the same API every other client uses, with the token
// from the session in x-api-key. A 401 ends the session and returns to sign-in.
import {clearToken, getToken} from './session.js';

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

// Builds "/path?a=1&b=2" from a query object; arrays repeat the key, empty values are left out.
export function withQuery(path, query) {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === null || v === undefined || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => params.append(k, x));
    else params.append(k, String(v));
  }
  const qs = params.toString();
  return qs ? `${path}${path.includes('?') ? '&' : '?'}${qs}` : path;
}

function messageOf(status, body, fallback) {
  if (body && typeof body === 'object') {
    if (typeof body.message === 'string' && body.message) return body.message;
    if (typeof body.error === 'string' && body.error) return body.error;
    if (Array.isArray(body.errors) && body.errors[0]?.message) return body.errors[0].message;
  }
  return fallback || `HTTP ${status}`;
}

// request('GET', '/v1/orgs', {query, body, headers, raw, signal})
// Returns {status, data, headers, etag}; data is parsed JSON (or text when raw is true).
// Throws ApiError for any status >= 400.
export async function request(method, path, options = {}) {
  const token = getToken();
  const headers = {Accept: 'application/json', ...(options.headers || {})};
  if (token) headers['x-api-key'] = token;
  let body;
  if (options.body !== undefined) {
    if (typeof options.body === 'string' || options.body instanceof Blob) {
      body = options.body;
    } else {
      body = JSON.stringify(options.body);
      headers['Content-Type'] = 'application/json';
    }
  }
  let response;
  try {
    response = await fetch(withQuery(path, options.query),
                           {method, headers, body, signal: options.signal, cache: 'no-store'});
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'The server cannot be reached: ' + e.message, null);
  }
  if (options.stream && response.ok) return response;
  const textBody = await response.text();
  let data = textBody;
  if (!options.raw && textBody) {
    try { data = JSON.parse(textBody); } catch { data = textBody; }
  }
  if (response.status === 401 && token) {
    clearToken();
    onUnauthorized();
  }
  if (response.status >= 400) {
    throw new ApiError(response.status, messageOf(response.status, data, response.statusText), data);
  }
  return {status: response.status, data, headers: response.headers,
          etag: response.headers.get('ETag')};
}

export const api = {
  get: (path, query, options = {}) => request('GET', path, {...options, query}),
  post: (path, body, options = {}) => request('POST', path, {...options, body}),
  put: (path, body, options = {}) => request('PUT', path, {...options, body}),
  patch: (path, body, options = {}) => request('PATCH', path, {...options, body}),
  del: (path, options = {}) => request('DELETE', path, options),
};

// Path builders for the IaCM API.
const e = encodeURIComponent;
export const paths = {
  org: (org) => `/v1/orgs/${e(org)}`,
  projects: (org) => `/v1/orgs/${e(org)}/projects`,
  project: (org, project) => `/v1/orgs/${e(org)}/projects/${e(project)}`,
  iacmProject: (org, project) => `/iacm/api/orgs/${e(org)}/projects/${e(project)}`,
  workspaces: (org, project) => `${paths.iacmProject(org, project)}/workspaces`,
  workspace: (org, project, ws) => `${paths.workspaces(org, project)}/${e(ws)}`,
};
