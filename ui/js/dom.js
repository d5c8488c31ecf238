// DOM building without innerHTML: every string becomes a text node or an attribute value,
// so names such as `<img src=x onerror=alert(1)>` are always shown as text.

// h('a', {href: '/ui/', class: 'x', onclick: fn, 'aria-label': 'y'}, 'text', child, [more])
// Props: `class`, `for`, `value`, `checked`, `disabled`, `selected` as properties; `on<event>`
// functions as listeners; `dataset` an object; null/undefined/false props are skipped.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith('on') && typeof value === 'function') {
        el.addEventListener(key.slice(2).toLowerCase(), value);
      } else if (key === 'class') {
        el.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : value;
      } else if (key === 'dataset') {
        Object.assign(el.dataset, value);
      } else if (key === 'value' || key === 'checked' || key === 'selected' || key === 'disabled') {
        el[key] = value;
      } else if (key === 'for') {
        el.htmlFor = value;
      } else {
        el.setAttribute(key, value === true ? '' : String(value));
      }
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

// Replaces el's children.
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function text(value) {
  return document.createTextNode(value === null || value === undefined ? '' : String(value));
}

// Timestamps come as epoch milliseconds, epoch seconds or ISO strings.
export function toDate(value) {
  if (value === null || value === undefined || value === '') return null;
  if (typeof value === 'number') return new Date(value < 1e12 ? value * 1000 : value);
  const n = Number(value);
  if (!Number.isNaN(n) && String(value).trim() !== '') return toDate(n);
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function fmtTime(value) {
  const d = toDate(value);
  if (!d) return '—';
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

// "3 min ago", with the exact time in a title attribute.
export function timeAgo(value) {
  const d = toDate(value);
  if (!d) return h('span', null, '—');
  const s = Math.round((Date.now() - d.getTime()) / 1000);
  let label;
  if (s < 45) label = 'just now';
  else if (s < 3600) label = `${Math.round(s / 60)} min ago`;
  else if (s < 86400) label = `${Math.round(s / 3600)} h ago`;
  else label = `${Math.round(s / 86400)} d ago`;
  return h('time', {datetime: d.toISOString(), title: fmtTime(d.getTime())}, label);
}

export function fmtBytes(n) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return '—';
  n = Number(n);
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < units.length - 1);
  return `${n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

// Costs are decimal strings (Infracost's format); null means unknown.
export function fmtMoney(value, currency = 'USD') {
  if (value === null || value === undefined || value === '') return '—';
  const n = Number(value);
  if (Number.isNaN(n)) return String(value);
  return new Intl.NumberFormat('en-US', {style: 'currency', currency, maximumFractionDigits: 2})
      .format(n);
}

export function encodeSeg(s) {
  return encodeURIComponent(s);
}
