// History-API routing: every page has a URL under /ui that can be shared and reloaded.
const routes = [];

// route('/ui/orgs/:org', render): render(container, params, query) may be async.
export function route(pattern, render) {
  const names = [];
  // One pass, so names are recorded in the order they appear (optional "/:name?" or ":name").
  const source = pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
                     .replace(/\/:([a-zA-Z]+)\\\?|:([a-zA-Z]+)/g, (_, opt, req) => {
                       names.push(opt || req);
                       return opt ? '(?:/([^/]+))?' : '([^/]+)';
                     });
  routes.push({regex: new RegExp(`^${source}/?$`), names, render});
}

export function match(pathname) {
  for (const r of routes) {
    const m = r.regex.exec(pathname);
    if (!m) continue;
    const params = {};
    r.names.forEach((n, i) => {
      if (m[i + 1] !== undefined) params[n] = decodeURIComponent(m[i + 1]);
    });
    return {render: r.render, params};
  }
  return null;
}

let onChange = () => {};
export function setRouteHandler(fn) {
  onChange = fn;
}

export function navigate(url, {replace = false} = {}) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  onChange();
}

// Updates the query of the current URL without a new history entry or a re-render
// (list filters keep their state in the URL so it can be shared).
export function setQuery(query) {
  const url = new URL(location.href);
  url.search = '';
  for (const [k, v] of Object.entries(query)) {
    if (v === null || v === undefined || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => url.searchParams.append(k, x));
    else url.searchParams.set(k, String(v));
  }
  history.replaceState(null, '', url.pathname + url.search);
}

export function currentQuery() {
  return new URLSearchParams(location.search);
}

window.addEventListener('popstate', () => onChange());

// Plain left clicks on same-origin /ui links navigate without a reload.
document.addEventListener('click', (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey ||
      event.shiftKey || event.altKey) return;
  const a = event.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith('/ui')) return;
  event.preventDefault();
  navigate(url.pathname + url.search + url.hash);
});
