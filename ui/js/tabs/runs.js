// The Runs tab: the workspace's runs (filtered, paginated), a form that starts one, and a
// run's own page (.../runs/<run-id>) with its summary, policy and cost results, the
// approve / discard / cancel actions and the log, followed live while the run executes.
import {api, request} from '../api.js';
import {badge, confirmDialog, emptyState, errorState, field, loadingState, notify, pager,
        statusBadge, table, withData} from '../components.js';
import {fmtMoney, fmtTime, h, mount, timeAgo} from '../dom.js';
import {navigate, setQuery} from '../router.js';
import {evaluationList} from './policies.js';

export const RUN_KINDS = ['plan', 'apply', 'destroy', 'drift', 'refresh'];
export const RUN_STATUSES = ['queued', 'planning', 'awaiting_approval', 'approved', 'applying',
  'planned', 'applied', 'drifted', 'no_drift', 'policy_failed', 'discarded', 'cancelled',
  'failed', 'interrupted'];
const PAGE_SIZE = 20;
const e = encodeURIComponent;

export async function render(container, tabCtx) {
  if (tabCtx.sub) return renderRun(container, tabCtx, tabCtx.sub);
  return renderList(container, tabCtx);
}

// Calls fn once el has left the document (the user navigated away).
function onDetach(el, fn) {
  const timer = setInterval(() => {
    if (!el.isConnected) {
      clearInterval(timer);
      fn();
    }
  }, 500);
}

// "+2 ~1 −0" for summary.resource_changes.
export function changeCounts(summary) {
  const rc = summary && summary.resource_changes;
  if (!rc) return h('span', {class: 'muted'}, '—');
  return h('span', {class: 'changes', title: `${rc.add} to add, ${rc.change} to change, ${rc.destroy} to destroy`},
           h('span', {class: 'chg-add'}, `+${rc.add}`), ' ',
           h('span', {class: 'chg-change'}, `~${rc.change}`), ' ',
           h('span', {class: 'chg-destroy'}, `−${rc.destroy}`));
}

function duration(run) {
  if (!run.started) return '—';
  const end = run.finished || Date.now();
  const s = Math.max(0, Math.round((end - run.started) / 1000));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

// ---- the list ----

function renderList(container, tabCtx) {
  const {base, wsPath, workspace} = tabCtx;
  const state = {
    status: tabCtx.query.get('status') || '',
    kind: tabCtx.query.get('kind') || '',
    page: Math.max(1, Number(tabCtx.query.get('page')) || 1),
  };
  const listArea = h('div', {class: 'runs-list'});
  let pollTimer = null;

  const statusSelect = h('select', {id: 'runs-status', name: 'status'},
    h('option', {value: ''}, 'Any status'),
    RUN_STATUSES.map((s) => h('option', {value: s, selected: s === state.status}, s)));
  const kindSelect = h('select', {id: 'runs-kind', name: 'kind'},
    h('option', {value: ''}, 'Any kind'),
    RUN_KINDS.map((k) => h('option', {value: k, selected: k === state.kind}, k)));
  const onFilter = () => {
    state.status = statusSelect.value;
    state.kind = kindSelect.value;
    state.page = 1;
    load();
  };
  statusSelect.addEventListener('change', onFilter);
  kindSelect.addEventListener('change', onFilter);

  function load() {
    clearTimeout(pollTimer);
    setQuery({status: state.status, kind: state.kind, page: state.page > 1 ? state.page : ''});
    return withData(listArea,
      () => api.get(`${wsPath}/runs`, {status: state.status, kind: state.kind,
                                       page: state.page, limit: PAGE_SIZE}),
      ({data, headers}) => {
        const total = Number(headers.get('X-Total-Elements') || data.length);
        // Active runs move on by themselves: look again in a few seconds.
        if (data.some((r) => !r.final)) pollTimer = setTimeout(refresh, 4000);
        if (!data.length) {
          return emptyState(state.status || state.kind ? 'No run matches these filters.'
                                                       : 'This workspace has no runs yet.');
        }
        return [
          table([
            {label: 'Run', cell: (r) => h('a', {href: `${base}/runs/${e(r.id)}`, class: 'run-link'}, `#${r.number}`)},
            {label: 'Kind', cell: (r) => r.kind},
            {label: 'Status', cell: (r) => statusBadge(r.status)},
            {label: 'Changes', cell: (r) => changeCounts(r.summary)},
            {label: 'Message', cell: (r) => r.message || h('span', {class: 'muted'}, '—')},
            {label: 'Started by', cell: (r) => r.created_by || '—'},
            {label: 'Created', cell: (r) => timeAgo(r.created)},
            {label: 'Duration', class: 'num', cell: (r) => duration(r)},
          ], data, {caption: `Runs of ${workspace.name || tabCtx.ws}`,
                    rowProps: (r) => ({dataset: {runId: r.id, status: r.status}})}),
          pager({page: state.page, first: 1, total, pageCount: Math.ceil(total / PAGE_SIZE),
                 onPage: (p) => { state.page = p; load(); }}),
        ];
      });
  }

  // A quiet reload (no loading state) while runs are active and the list is shown.
  async function refresh() {
    if (!listArea.isConnected) return;
    try {
      const {data} = await api.get(`${wsPath}/runs`, {status: state.status, kind: state.kind,
                                                       page: state.page, limit: PAGE_SIZE});
      if (!listArea.isConnected) return;
      const changed = data.some((r) => {
        const row = listArea.querySelector(`tr[data-run-id="${CSS.escape(r.id)}"]`);
        return !row || row.dataset.status !== r.status;
      });
      if (changed || data.length !== listArea.querySelectorAll('tbody tr').length) {
        load();
      } else if (data.some((r) => !r.final)) {
        pollTimer = setTimeout(refresh, 4000);
      }
    } catch { /* the next manual action shows errors */ }
  }

  mount(container,
    startRunForm(tabCtx),
    h('div', {class: 'toolbar filters'},
      field('Status', statusSelect), field('Kind', kindSelect),
      h('span', {class: 'spacer'}),
      h('button', {type: 'button', onclick: load}, 'Refresh')),
    listArea);
  load();
}

function startRunForm(tabCtx) {
  const {workspace, wsPath, base} = tabCtx;
  const kind = h('select', {id: 'run-kind', name: 'kind'},
    RUN_KINDS.map((k) => h('option', {value: k}, k)));
  const message = h('input', {id: 'run-message', name: 'message', type: 'text', maxlength: '1024',
                              autocomplete: 'off'});
  const autoApply = h('input', {id: 'run-auto-apply', name: 'auto_apply', type: 'checkbox'});
  const submit = h('button', {type: 'submit', class: 'primary', id: 'run-start'}, 'Start run');
  const formError = h('p', {class: 'field-error', role: 'alert'});
  const source = workspace.repository
    ? [h('code', null, workspace.repository),
       workspace.repository_branch ? [' branch ', h('code', null, workspace.repository_branch)] : null,
       workspace.repository_commit ? [' commit ', h('code', null, workspace.repository_commit)] : null,
       workspace.repository_path ? [' in ', h('code', null, workspace.repository_path)] : null]
    : 'this workspace has no repository: set one in Settings, or start runs from the command line (statehouse plan / apply)';
  const form = h('form', {class: 'start-run', novalidate: true},
    h('p', {class: 'field-hint'}, 'Source: ', source),
    h('div', {class: 'start-run-fields'},
      field('Kind', kind),
      field('Message', message, {hint: 'Optional: why this run.'}),
      h('div', {class: 'field field-check'},
        h('label', {for: 'run-auto-apply'}, autoApply, ' Apply without approval'))),
    formError,
    h('div', {class: 'form-actions'}, submit));
  const syncAutoApply = () => {
    const applies = ['apply', 'destroy', 'refresh'].includes(kind.value);
    autoApply.disabled = !applies;
    if (!applies) autoApply.checked = false;
  };
  kind.addEventListener('change', syncAutoApply);
  syncAutoApply();
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    formError.textContent = '';
    submit.disabled = true;
    try {
      const {data: run} = await api.post(`${wsPath}/runs`,
        {kind: kind.value, message: message.value.trim(), auto_apply: autoApply.checked});
      notify(`Run #${run.number} started.`);
      navigate(`${base}/runs/${e(run.id)}`);
    } catch (err) {
      formError.textContent = err.message;
      submit.disabled = false;
    }
  });
  return h('details', {class: 'card start-run-card', open: !workspace.repository ? null : true},
           h('summary', null, h('strong', null, 'Start a run')), form);
}

// ---- one run ----

async function renderRun(container, tabCtx, runId) {
  const {base, wsPath, org, project} = tabCtx;
  const runPath = `${wsPath}/runs/${e(runId)}`;
  mount(container, loadingState('Loading the run…'));
  let run;
  try {
    run = (await api.get(runPath)).data;
  } catch (err) {
    mount(container, h('p', null, h('a', {href: `${base}/runs`}, '‹ All runs')),
          errorState(err, () => renderRun(container, tabCtx, runId)));
    return;
  }

  const head = h('div', {class: 'run-head'});
  const actions = h('div', {class: 'toolbar run-actions', id: 'run-actions'});
  const details = h('div', {class: 'grid-2 run-details'});
  const results = h('div', {class: 'run-results'});
  const logState = h('p', {class: 'log-state muted', id: 'run-log-state', role: 'status'});
  const log = h('pre', {class: 'log', id: 'run-log', tabindex: '0', 'aria-label': 'Run log',
                        dataset: {following: 'false'}});
  mount(container,
    h('p', null, h('a', {href: `${base}/runs`}, '‹ All runs')),
    head, actions, details, results,
    h('h3', null, 'Log'), logState, log);

  let offset = 0;
  let controller = null;
  let shownEvaluations = '';
  onDetach(container, () => controller && controller.abort());

  let shownKey = '';
  function show(r) {
    run = r;
    const key = `${r.status}:${r.updated}`;
    if (key === shownKey) return;  // unchanged: keep the focus where it is
    shownKey = key;
    mount(head,
      h('h2', null, `Run #${r.number}`),
      h('span', {id: 'run-status', dataset: {status: r.status}}, statusBadge(r.status)),
      badge(r.kind, 'neutral'),
      r.auto_apply ? badge('auto-apply', 'info') : null);
    mount(actions, actionButtons(r));
    mount(details, detailsCard(r), planCard(r));
    const resultsKey = `${r.status}:${r.summary?.policy?.evaluation_id || ''}:${r.summary?.cost_estimate?.policy_evaluation_id || ''}`;
    if (resultsKey !== shownEvaluations) {
      shownEvaluations = resultsKey;
      mount(results, costSection(r), evaluationsSection(r));
    }
  }

  function actionButtons(r) {
    const buttons = [];
    if (r.status === 'awaiting_approval') {
      buttons.push(h('button', {type: 'button', class: 'primary', id: 'run-approve',
                                onclick: () => act('approve')}, 'Approve and apply'));
      buttons.push(h('button', {type: 'button', id: 'run-discard', onclick: () => act('discard', {
        title: `Discard run #${r.number}?`, message: 'The plan is thrown away and nothing is applied.',
        confirmLabel: 'Discard run'})}, 'Discard'));
    } else if (!r.final) {
      buttons.push(h('button', {type: 'button', class: 'danger', id: 'run-cancel', onclick: () => act('cancel', {
        title: `Cancel run #${r.number}?`,
        message: 'The provisioner is interrupted (SIGINT, then SIGTERM, then SIGKILL). An apply stopped half way may leave resources changed.',
        confirmLabel: 'Cancel run', danger: true})}, 'Cancel run'));
    }
    buttons.push(h('span', {class: 'spacer'}));
    buttons.push(h('button', {type: 'button', onclick: refresh}, 'Refresh'));
    return buttons;
  }

  async function act(action, confirmation) {
    if (confirmation && !(await confirmDialog(confirmation))) return;
    actions.querySelectorAll('button').forEach((b) => { b.disabled = true; });
    try {
      const {data} = await api.post(`${runPath}/${action}`);
      notify({approve: 'Run approved: applying.', discard: 'Run discarded.', cancel: 'Run cancelled.'}[action]);
      show(data);
      if (!following()) follow();
    } catch (err) {
      notify(err.message, 'bad');
      refresh();
    }
  }

  async function refresh() {
    try {
      show((await api.get(runPath)).data);
      if (!following() && isStreaming(run)) follow();
    } catch (err) {
      if (err.name !== 'AbortError') notify(err.message, 'bad');
    }
  }

  const following = () => log.dataset.following === 'true';
  const isStreaming = (r) => !r.final && r.status !== 'awaiting_approval';

  // Reads the log from `offset`; with follow=true the server keeps the response open while
  // the run executes and ends it when the run ends or waits for approval.
  async function follow() {
    if (!container.isConnected) return;
    controller = new AbortController();
    log.dataset.following = 'true';
    logState.textContent = isStreaming(run) ? 'Following the log…' : 'Loading the log…';
    const decoder = new TextDecoder();
    // The status moves on while the log streams (planning, applying): look at it now and then.
    const poll = setInterval(() => {
      if (container.isConnected) api.get(runPath).then(({data}) => show(data)).catch(() => {});
    }, 3000);
    try {
      const response = await request('GET', `${runPath}/logs`, {
        query: {follow: 'true', offset}, stream: true, signal: controller.signal,
        headers: {Accept: 'text/plain'}});
      const reader = response.body.getReader();
      for (;;) {
        const {done, value} = await reader.read();
        if (done) break;
        offset += value.byteLength;
        appendLog(decoder.decode(value, {stream: true}));
      }
      appendLog(decoder.decode());
    } catch (err) {
      clearInterval(poll);
      log.dataset.following = 'false';
      if (err.name === 'AbortError') return;
      logState.replaceChildren(`The log stopped: ${err.message}. `,
        h('button', {type: 'button', onclick: follow}, 'Resume'));
      return;
    }
    clearInterval(poll);
    log.dataset.following = 'false';
    if (!container.isConnected) return;
    try {
      show((await api.get(runPath)).data);
    } catch (err) {
      if (err.name === 'AbortError') return;
      notify(err.message, 'bad');
    }
    if (isStreaming(run)) {
      // An apply started after approval, or the stream ended just before the status moved.
      setTimeout(follow, 500);
      return;
    }
    logState.textContent = (run.status === 'awaiting_approval'
      ? 'The plan waits for approval.' : `The run ended: ${run.status}.`) +
      (offset === 0 ? ' It wrote no log.' : '');
  }

  function appendLog(text) {
    if (!text) return;
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
    log.appendChild(document.createTextNode(text));
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  show(run);
  follow();  // not awaited: the page is shown while the log streams

  function detailsCard(r) {
    const s = r.summary || {};
    const src = s.source || {};
    return h('div', {class: 'card'},
      h('h3', null, 'Details'),
      h('dl', {class: 'props'},
        h('dt', null, 'Kind'), h('dd', null, r.kind),
        h('dt', null, 'Status'), h('dd', null, r.status),
        h('dt', null, 'Message'), h('dd', null, r.message || '—'),
        h('dt', null, 'Started by'), h('dd', null, r.created_by || '—'),
        r.approved_by ? [h('dt', null, 'Approved by'), h('dd', null, r.approved_by)] : null,
        h('dt', null, 'Created'), h('dd', null, fmtTime(r.created)),
        h('dt', null, 'Started'), h('dd', null, r.started ? fmtTime(r.started) : '—'),
        h('dt', null, 'Finished'), h('dd', null, r.finished ? fmtTime(r.finished) : '—'),
        h('dt', null, 'Duration'), h('dd', null, duration(r)),
        h('dt', null, 'Source'), h('dd', null,
          src.type === 'repository' ? ['repository ', h('code', null, src.repository || s.git_repo || '')]
                                    : (src.type || (r.remote_execution_id ? 'upload' : '—')),
          s.git_branch ? [' branch ', h('code', null, s.git_branch)] : null,
          s.git_commit ? [' commit ', h('code', {title: s.git_commit}, s.git_commit.slice(0, 12))] : null),
        s.provisioner ? [h('dt', null, 'Provisioner'),
                         h('dd', null, `${s.provisioner} ${s.provisioner_version || ''}`.trim())] : null,
        h('dt', null, 'Run id'), h('dd', null, h('code', null, r.id))));
  }

  function planCard(r) {
    const s = r.summary || {};
    const rc = s.resource_changes;
    return h('div', {class: 'card plan-summary', id: 'run-plan-summary'},
      h('h3', null, 'Plan'),
      s.error ? h('div', {class: 'state-error', role: 'alert'}, s.error) : null,
      rc ? h('ul', {class: 'change-counts'},
             h('li', {class: 'chg-add'}, h('strong', null, String(rc.add)), ' to add'),
             h('li', {class: 'chg-change'}, h('strong', null, String(rc.change)), ' to change'),
             h('li', {class: 'chg-destroy'}, h('strong', null, String(rc.destroy)), ' to destroy'))
         : h('p', {class: 'muted'}, r.final ? 'No plan was made.' : 'The plan is not ready yet.'),
      rc && s.has_changes === false ? h('p', null, 'No changes: the infrastructure matches the configuration.') : null,
      s.plan_data_id ? h('p', {class: 'field-hint'}, 'Plan stored as data ', h('code', null, s.plan_data_id)) : null);
  }

  function costSection(r) {
    const c = r.summary && r.summary.cost_estimate;
    if (!c) return null;
    if (!c.estimated) {
      return h('section', {class: 'card run-cost'}, h('h3', null, 'Cost estimate'),
               h('p', {class: 'muted'}, c.error || 'Not estimated.'));
    }
    const diff = Number(c.diff_total_monthly_cost);
    return h('section', {class: 'card run-cost', id: 'run-cost'},
      h('h3', null, 'Cost estimate'),
      h('dl', {class: 'props'},
        h('dt', null, 'Monthly cost'), h('dd', null, h('strong', null, fmtMoney(c.total_monthly_cost, c.currency))),
        h('dt', null, 'Before'), h('dd', null, fmtMoney(c.past_total_monthly_cost, c.currency)),
        h('dt', null, 'Change'), h('dd', {class: diff > 0 ? 'cost-up' : diff < 0 ? 'cost-down' : null},
          `${diff > 0 ? '+' : ''}${fmtMoney(c.diff_total_monthly_cost, c.currency)}`),
        c.monthly_budget ? [h('dt', null, 'Budget'), h('dd', null, fmtMoney(c.monthly_budget, c.currency), ' ',
          c.over_budget ? badge('over budget', 'bad') : badge('within budget', 'ok'))] : null,
        c.policy_evaluation_status ? [h('dt', null, 'Cost policies'), h('dd', null, statusBadge(c.policy_evaluation_status),
          c.policy_evaluation_message ? h('pre', {class: 'policy-message'}, c.policy_evaluation_message) : null)] : null),
      h('p', null, h('a', {href: `${base}/cost`}, 'Cost breakdown ›')));
  }

  // The policy evaluations recorded for this run (plan, cost and state policies).
  function evaluationsSection(r) {
    const s = r.summary || {};
    const section = h('section', {class: 'run-policies', id: 'run-policies'}, h('h3', null, 'Policies'));
    if (s.policy) section.appendChild(h('p', null, 'Plan policies: ', statusBadge(s.policy.status)));
    const list = h('div');
    section.appendChild(list);
    withData(list,
      () => api.get('/pm/api/v1/evaluations', {orgIdentifier: org, projectIdentifier: project,
                                               execution_id: r.id, limit: 50}),
      ({data}) => data.length ? evaluationList(data, {base, openIf: (ev) => ev.status !== 'pass'})
                              : h('p', {class: 'muted'}, 'No policy set applied to this run.'));
    return section;
  }
}
