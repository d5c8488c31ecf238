// The Cost tab: the workspace's newest monthly cost estimate (Infracost-format documents kept
// as workspace data: `cost_breakdown` and `cost_diff`, named by the workspace's
// cost_breakdown_json / cost_diff_json), the total against the workspace's budget and the
// history of totals as inline SVG charts, the breakdown per resource and cost component, and
// the diff against the state before the plan.
import {api} from '../api.js';
import {badge, emptyState, statusBadge, table, withData} from '../components.js';
import {fmtMoney, fmtTime, h, toDate} from '../dom.js';

const HISTORY = 12;  // estimates in the history chart
const SVG_NS = 'http://www.w3.org/2000/svg';
const e = encodeURIComponent;

export async function render(container, tabCtx) {
  const {workspace: w, wsPath, base} = tabCtx;
  const enabled = Boolean(w.cost_estimation_enabled);
  if (!w.cost_breakdown_json) {
    container.replaceChildren(emptyState(enabled
      ? 'No cost estimate yet. Every plan of this workspace is priced: start a plan run, or upload a plan (data_type plan_json).'
      : 'Cost estimation is disabled for this workspace. Turn on "cost estimation" in Settings to price every plan.',
      enabled ? h('a', {class: 'button', href: `${base}/runs`}, 'Runs')
              : h('a', {class: 'button', href: `${base}/settings`}, 'Settings')));
    return;
  }
  await withData(container, () => load(wsPath, w), (data) => build(data, tabCtx));
}

async function load(wsPath, w) {
  const doc = (id) => api.get(`${wsPath}/data/${e(id)}`).then((r) => r.data);
  const [breakdown, diff, list] = await Promise.all([
    doc(w.cost_breakdown_json),
    w.cost_diff_json ? doc(w.cost_diff_json) : null,
    api.get(`${wsPath}/data`, {data_type: 'cost_diff', limit: HISTORY}).then((r) => r.data),
  ]);
  // The totals of the last estimates, oldest first (the newest one is already here).
  const history = await Promise.all(list.map(async (row) => {
    const d = row.id === w.cost_diff_json && diff ? diff : await doc(row.id).catch(() => null);
    return d && {id: row.id, created: row.created, time: d.timeGenerated || row.created,
                 total: d.totalMonthlyCost, past: d.pastTotalMonthlyCost, diff: d.diffTotalMonthlyCost,
                 policy: row.policy_evaluation_status, policyMessage: row.policy_evaluation_message};
  }));
  return {breakdown, diff: diff || breakdown, history: history.filter(Boolean).reverse()};
}

function build({breakdown, diff, history}, tabCtx) {
  const w = tabCtx.workspace;
  const currency = breakdown.currency || 'USD';
  const money = (v) => fmtMoney(v, currency);
  const budget = breakdown.budget?.monthlyBudget ?? (typeof w.budget === 'number' && w.budget > 0 ? String(w.budget) : null);
  const total = breakdown.totalMonthlyCost;
  const over = budget !== null && Number(total) > Number(budget);
  const change = Number(breakdown.diffTotalMonthlyCost);
  const current = history.find((x) => x.id === w.cost_diff_json) || history[history.length - 1];
  const summary = breakdown.summary || breakdown.projects?.[0]?.summary || {};

  return [
    !w.cost_estimation_enabled ? h('p', {class: 'notice notice-warn', role: 'status'},
      'Cost estimation is now disabled for this workspace: this is the last estimate made.') : null,
    h('div', {class: 'cost-cards', id: 'cost-summary'},
      h('div', {class: 'card cost-card'}, h('p', {class: 'cost-label'}, 'Monthly cost'),
        h('p', {class: 'cost-figure', id: 'cost-total'}, money(total)),
        h('p', {class: 'muted'}, 'estimated ', fmtTime(breakdown.timeGenerated))),
      h('div', {class: 'card cost-card'}, h('p', {class: 'cost-label'}, 'Change from before the plan'),
        h('p', {class: ['cost-figure', change > 0 ? 'cost-up' : change < 0 ? 'cost-down' : null]}, signedMoney(breakdown.diffTotalMonthlyCost, currency)),
        h('p', {class: 'muted'}, 'before: ', money(breakdown.pastTotalMonthlyCost))),
      h('div', {class: 'card cost-card'}, h('p', {class: 'cost-label'}, 'Monthly budget'),
        h('p', {class: 'cost-figure'}, budget !== null ? money(budget) : '—'),
        budget !== null ? (over ? badge('over budget', 'bad') : badge('within budget', 'ok'))
                        : h('p', {class: 'muted'}, 'No budget: set one in ', h('a', {href: `${tabCtx.base}/settings`}, 'Settings'), '.')),
      current && current.policy ? h('div', {class: 'card cost-card'}, h('p', {class: 'cost-label'}, 'Cost policies'),
        h('p', null, statusBadge(current.policy)),
        current.policyMessage ? h('pre', {class: 'policy-message'}, current.policyMessage) : null) : null),
    h('section', {'aria-labelledby': 'cost-budget-title'},
      h('h3', {id: 'cost-budget-title'}, 'Total against budget'),
      budgetChart({total, past: breakdown.pastTotalMonthlyCost, budget, currency})),
    history.length > 1 ? h('section', {'aria-labelledby': 'cost-history-title'},
      h('h3', {id: 'cost-history-title'}, `The last ${history.length} estimates`),
      historyChart(history, budget, currency),
      h('details', null, h('summary', null, 'As a table'),
        table([
          {label: 'Estimated', cell: (x) => fmtTime(x.time)},
          {label: 'Monthly cost', class: 'num', cell: (x) => fmtMoney(x.total, currency)},
          {label: 'Change', class: 'num', cell: (x) => signedMoney(x.diff, currency)},
          {label: 'Policies', cell: (x) => x.policy ? statusBadge(x.policy) : '—'},
        ], [...history].reverse()))) : null,
    resourceCounts(summary),
    h('section', {'aria-labelledby': 'cost-breakdown-title'},
      h('h3', {id: 'cost-breakdown-title'}, 'Breakdown'),
      breakdownTable(breakdown, currency)),
    h('section', {'aria-labelledby': 'cost-diff-title'},
      h('h3', {id: 'cost-diff-title'}, 'Diff from before the plan'),
      diffTable(diff, currency)),
    priceNote(breakdown),
  ];
}

// ---- formatting ----

function signedMoney(value, currency) {
  if (value === null || value === undefined || value === '') return '—';
  const n = Number(value);
  if (Number.isNaN(n)) return String(value);
  return `${n > 0 ? '+' : n < 0 ? '−' : ''}${fmtMoney(Math.abs(n), currency)}`;
}

function fmtPrice(value, currency) {
  if (value === null || value === undefined) return badge('no price', 'warn');
  const n = Number(value);
  if (Number.isNaN(n)) return String(value);
  return new Intl.NumberFormat('en-US', {style: 'currency', currency, minimumFractionDigits: 2,
                                         maximumFractionDigits: 8}).format(n);
}

function fmtQuantity(value, signed = false) {
  if (value === null || value === undefined) return null;
  const n = Number(value);
  if (Number.isNaN(n)) return String(value);
  const s = new Intl.NumberFormat('en-US', {maximumFractionDigits: 4}).format(Math.abs(n));
  return `${n < 0 ? '−' : signed && n > 0 ? '+' : ''}${s}`;
}

// ---- tables ----

// Resources and their components (subresources' components named "sub › component") as rows.
function rowsOf(resources, {skipZero = false} = {}) {
  const rows = [];
  for (const r of resources || []) {
    const components = [];
    const walk = (node, prefix) => {
      for (const c of node.costComponents || []) {
        if (skipZero && !Number(c.monthlyQuantity) && !Number(c.monthlyCost)) continue;
        components.push({kind: 'component', name: prefix + c.name, c});
      }
      for (const sub of node.subresources || []) walk(sub, `${prefix}${sub.name} › `);
    };
    walk(r, '');
    if (skipZero && !components.length && !Number(r.monthlyCost)) continue;
    rows.push({kind: 'resource', r}, ...components);
  }
  return rows;
}

function costTable(rows, currency, {caption, signed, totalLabel, totalValue}) {
  const money = signed ? (v) => signedMoney(v, currency) : (v) => fmtMoney(v, currency);
  const cls = (v) => !signed ? null : Number(v) > 0 ? 'cost-up' : Number(v) < 0 ? 'cost-down' : null;
  rows.push({kind: 'total', label: totalLabel, value: totalValue});
  return table([
    {label: 'Resource / cost component', cell: (x) => {
      if (x.kind === 'total') return h('strong', null, x.label);
      if (x.kind === 'component') return h('span', {class: 'cost-component'}, x.name);
      return [h('strong', null, x.r.name), ' ', h('span', {class: 'muted'}, x.r.resourceType || ''),
              (x.r.metadata?.noPrice || []).map((m) => h('p', {class: 'cost-noprice'}, m))];
    }},
    {label: 'Monthly quantity', class: 'num', cell: (x) => x.kind !== 'component' ? ''
      : fmtQuantity(x.c.monthlyQuantity, signed) ?? h('span', {class: 'muted'}, x.c.usageBased ? 'usage-based' : '—')},
    {label: 'Unit', cell: (x) => x.kind === 'component' ? x.c.unit || '' : ''},
    {label: 'Price', class: 'num', cell: (x) => x.kind === 'component' ? fmtPrice(x.c.price, currency) : ''},
    {label: 'Monthly cost', class: 'num', cell: (x) => {
      const v = x.kind === 'total' ? x.value : x.kind === 'resource' ? x.r.monthlyCost : x.c.monthlyCost;
      const text = v === null || v === undefined ? '—' : money(v);
      return x.kind === 'component' ? h('span', {class: cls(v)}, text) : h('strong', {class: cls(v)}, text);
    }},
  ], rows, {caption, rowProps: (x) => ({class: `cost-row-${x.kind}`})});
}

function projectsOf(doc) {
  return Array.isArray(doc.projects) ? doc.projects : [];
}

function breakdownTable(doc, currency) {
  const resources = projectsOf(doc).flatMap((p) => p.breakdown?.resources || []);
  const free = projectsOf(doc).flatMap((p) => p.breakdown?.freeResources || []);
  if (!resources.length) return emptyState('The plan has no priced resources.');
  return [
    costTable(rowsOf(resources), currency, {caption: 'Monthly cost per resource after the plan',
      totalLabel: 'Total', totalValue: doc.totalMonthlyCost}),
    free.length ? h('p', {class: 'muted'}, `Free: ${free.map((r) => r.name).join(', ')}`) : null,
  ];
}

function diffTable(doc, currency) {
  const resources = projectsOf(doc).flatMap((p) => p.diff?.resources || []);
  const rows = rowsOf(resources, {skipZero: true});
  if (!rows.length) return emptyState('The plan changes no cost.');
  return [
    costTable(rows, currency, {caption: 'Monthly cost change per resource (+ more, − less)', signed: true,
      totalLabel: 'Total change', totalValue: doc.diffTotalMonthlyCost}),
    h('p', {class: 'field-hint'}, 'Components whose cost does not change are left out.'),
  ];
}

function resourceCounts(s) {
  if (!s || s.totalDetectedResources === undefined) return null;
  const items = [
    ['resources', s.totalDetectedResources], ['priced', s.totalSupportedResources],
    ['free', s.totalFreeResources], ['usage-based', s.totalUsageBasedResources],
    ['without a price', s.totalNoPriceResources], ['not supported', s.totalUnsupportedResources],
  ];
  const unsupported = Object.entries(s.unsupportedResourceCounts || {}).map(([t, n]) => `${t} (${n})`);
  return h('div', {class: 'cost-counts'},
    h('ul', {class: 'inline-list'}, items.map(([label, n]) => h('li', null, h('strong', null, String(n ?? 0)), ` ${label}`))),
    unsupported.length ? h('p', {class: 'muted'}, `Not supported: ${unsupported.join(', ')}`) : null);
}

function priceNote(doc) {
  const catalogs = doc.metadata?.priceCatalogs || [];
  if (!catalogs.length) return null;
  return h('details', {class: 'price-note'}, h('summary', null, 'Where the prices come from'),
    h('ul', null, catalogs.map((c) => h('li', null, h('strong', null, `${c.provider} (${c.effectiveDate}): `), c.source))));
}

// ---- charts (inline SVG; presentation comes from runs.css classes) ----

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

let chartSeq = 0;
function chart(width, height, title, description, ...content) {
  const id = `chart-${++chartSeq}`;
  return svg('svg', {class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img',
                     'aria-labelledby': `${id}-title ${id}-desc`, preserveAspectRatio: 'xMinYMin meet'},
    svg('title', {id: `${id}-title`}, title), svg('desc', {id: `${id}-desc`}, description), content);
}

// Horizontal bars: this estimate and the cost before the plan, the budget as a line.
function budgetChart({total, past, budget, currency}) {
  const W = 640, left = 130, right = 110, barH = 26, gap = 14, top = 10;
  const values = [Number(total) || 0, Number(past) || 0, budget !== null ? Number(budget) : 0];
  const max = Math.max(...values, 1) * 1.05;
  const x = (v) => left + (Math.max(v, 0) / max) * (W - left - right);
  const over = budget !== null && Number(total) > Number(budget);
  const rows = [
    {label: 'This plan', value: total, cls: over ? 'bar bar-over' : 'bar bar-total'},
    {label: 'Before the plan', value: past, cls: 'bar bar-past'},
  ];
  const H = top + rows.length * (barH + gap) + 24;
  const money = (v) => fmtMoney(v, currency);
  return chart(W, H, 'Monthly cost against the budget',
    `This plan: ${money(total)} a month; before the plan: ${money(past)}; ` +
    (budget !== null ? `budget: ${money(budget)} (${over ? 'over' : 'within'} budget).` : 'no budget set.'),
    rows.map((r, i) => {
      const y = top + i * (barH + gap);
      return svg('g', null,
        svg('text', {class: 'chart-label', x: left - 8, y: y + barH / 2 + 5, 'text-anchor': 'end'}, r.label),
        svg('rect', {class: r.cls, x: left, y, width: Math.max(x(Number(r.value) || 0) - left, 1), height: barH, rx: 3}),
        svg('text', {class: 'chart-value', x: W - 6, y: y + barH / 2 + 5, 'text-anchor': 'end'}, money(r.value)));
    }),
    budget !== null ? svg('g', {class: 'budget-marker'},
      svg('line', {class: 'budget-line', x1: x(Number(budget)), x2: x(Number(budget)), y1: top - 6, y2: H - 20}),
      svg('text', {class: 'chart-label budget-label', x: x(Number(budget)), y: H - 4, 'text-anchor': 'middle'},
          `budget ${money(budget)}`)) : null);
}

// Columns: the total of each estimate, oldest first, with the budget as a horizontal line.
function historyChart(history, budget, currency) {
  const W = 640, H = 220, left = 70, right = 16, top = 14, bottom = 36;
  const totals = history.map((x) => Number(x.total) || 0);
  const max = Math.max(...totals, budget !== null ? Number(budget) : 0, 1) * 1.1;
  const plotW = W - left - right, plotH = H - top - bottom;
  const slot = plotW / history.length;
  const barW = Math.min(40, slot * 0.6);
  const y = (v) => top + plotH - (Math.max(v, 0) / max) * plotH;
  const money = (v) => fmtMoney(v, currency);
  const short = (t) => {
    const d = toDate(t);
    return d ? d.toISOString().slice(5, 16).replace('T', ' ') : '';
  };
  const ticks = [0, max / 2, max].map((v) => svg('g', null,
    svg('line', {class: 'chart-grid', x1: left, x2: W - right, y1: y(v), y2: y(v)}),
    svg('text', {class: 'chart-axis', x: left - 6, y: y(v) + 4, 'text-anchor': 'end'},
        new Intl.NumberFormat('en-US', {style: 'currency', currency, maximumFractionDigits: 0}).format(v))));
  return chart(W, H, 'Monthly cost of the last estimates',
    history.map((x) => `${short(x.time)}: ${money(x.total)}`).join('; ') +
    (budget !== null ? `; budget ${money(budget)}` : ''),
    ticks,
    history.map((x, i) => {
      const v = Number(x.total) || 0;
      const cx = left + slot * i + slot / 2;
      const over = budget !== null && v > Number(budget);
      return svg('g', null,
        svg('rect', {class: over ? 'bar bar-over' : 'bar bar-total', x: cx - barW / 2, y: y(v),
                     width: barW, height: Math.max(top + plotH - y(v), 1), rx: 2},
            svg('title', null, `${fmtTime(x.time)}: ${money(x.total)}`)),
        history.length <= 8 || i % Math.ceil(history.length / 8) === 0
          ? svg('text', {class: 'chart-axis', x: cx, y: H - bottom + 16, 'text-anchor': 'middle'}, short(x.time)) : null);
    }),
    budget !== null ? svg('g', {class: 'budget-marker'},
      svg('line', {class: 'budget-line', x1: left, x2: W - right, y1: y(Number(budget)), y2: y(Number(budget))}),
      svg('text', {class: 'chart-label budget-label', x: W - right, y: y(Number(budget)) - 5, 'text-anchor': 'end'},
          `budget ${money(budget)}`)) : null);
}
