// The console in a real browser (Debian's chromium through playwright-core) against the real
// server binary: sign-in and out, creating an org, a project and a workspace, editing with a
// stale edit refused, two real terraform applies and the diff between them, rollback, the lock
// holder and force-unlock, and hostile names shown as text. Screenshots go to artifacts/.
import assert from 'node:assert/strict';
import {execFile} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {promisify} from 'node:util';
import {after, before, describe, test} from 'node:test';

import {ARTIFACTS, chromiumPath, openPage, screenshot, Server, signIn, unexpectedProblems,
        unlabelledControls, waitForLocation} from './harness.js';

const chromium = chromiumPath();
const runCommand = promisify(execFile);

// Opens a "New …" panel unless an empty list has opened it already.
async function openPanel(page, summary) {
  const panel = page.locator('details', {has: page.locator('summary', {hasText: summary})});
  await panel.waitFor();
  if (!(await panel.evaluate((d) => d.open))) await panel.locator('summary').click();
}
const skip = chromium ? false : 'no chromium (apt-get install chromium)';
if (!chromium && process.env.CI === 'true') throw new Error('CI=true but chromium is not installed');

describe('console', {skip}, () => {
  let server;
  let browser;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'statehouse-tf-'));

  before(async () => {
    const {chromium: pw} = await import('playwright-core');
    server = await Server.start();
    browser = await pw.launch({executablePath: chromium, args: ['--no-sandbox']});
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    fs.rmSync(work, {recursive: true, force: true});
  });

  test('sign in refuses a wrong token, keeps the right one in session storage only, signs out', async () => {
    const {context, page} = await openPage(browser, server);
    await page.goto(`${server.url}/ui/orgs/x`);
    await waitForLocation(page, /\/ui\/signin\?next=/);
    const [account, id] = server.token.split('.').slice(1, 3);
    await page.fill('#token', `pat.${account}.${id}.wrongsecret`);
    await page.click('form.signin button[type=submit]');
    await page.getByText('The server does not accept this token.').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('statehouse.token')), null);

    await page.fill('#token', server.token);
    await page.click('form.signin button[type=submit]');
    await waitForLocation(page, /\/ui\/orgs\/x$/);  // back where the deep link pointed
    assert.equal(await page.evaluate(() => sessionStorage.getItem('statehouse.token')), server.token);
    assert.deepEqual(await context.cookies(), []);
    assert.equal(await page.evaluate(() => localStorage.length), 0);
    await page.click('#sign-out');
    await waitForLocation(page, /\/ui\/signin$/);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('statehouse.token')), null);
    await page.goto(`${server.url}/ui`);
    await waitForLocation(page, /\/ui\/signin/);
    assert.deepEqual(unexpectedProblems(page, ['status of 401', 'status of 404']), []);
    await context.close();
  });

  test('a 401 on any page returns to sign-in', async () => {
    const {context, page} = await openPage(browser, server);
    await signIn(page, server);
    await waitForLocation(page, /\/ui$/);
    // The list has loaded: no request of this page can read the replaced token and meet its 401
    // while the reload below is under way (the reloaded page would then find no token at all).
    await page.getByText('There are no organizations yet').waitFor();
    await page.evaluate(() => sessionStorage.setItem('statehouse.token', 'pat.default.nobody.nothing'));
    await page.reload();
    await waitForLocation(page, /\/ui\/signin\?expired=1/);
    await page.getByText('Your session ended').waitFor();
    await context.close();
  });

  test('create an org, a project and a workspace; edit a field; a stale edit is refused', async () => {
    const {context, page} = await openPage(browser, server);
    await signIn(page, server);
    await waitForLocation(page, /\/ui$/);
    await page.getByText('There are no organizations yet').waitFor();
    await screenshot(page, 'orgs-empty');

    await openPanel(page, 'New organization');
    await page.fill('#new-org-name', 'Platform');
    await page.fill('#new-org-identifier', 'platform');
    await page.click('button:has-text("Create organization")');
    await waitForLocation(page, /\/ui\/orgs\/platform$/);

    await openPanel(page, 'New project');
    await page.fill('#new-project-name', 'Network');
    await page.fill('#new-project-identifier', 'network');
    await page.click('button:has-text("Create project")');
    await waitForLocation(page, /\/ui\/orgs\/platform\/projects\/network$/);

    // A refused identifier is shown next to its field, and nothing is created.
    await page.getByText('This project has no workspaces yet').waitFor();
    await page.fill('#new-ws-name', 'VPC');
    await page.fill('#new-ws-identifier', '9-bad');
    await page.click('button:has-text("Create workspace")');
    await page.locator('[data-field="identifier"] .field-error').filter({hasText: 'Start with a letter'}).waitFor();
    await page.fill('#new-ws-identifier', 'vpc');
    await page.fill('#new-ws-provisioner_version', '1.11.4');
    await page.click('button:has-text("Create workspace")');
    await waitForLocation(page, /\/workspaces\/vpc(\/settings)?$/);
    const created = await server.api('GET', '/iacm/api/orgs/platform/projects/network/workspaces/vpc');
    assert.equal(created.status, 200);
    assert.equal(created.body.provisioner_version, '1.11.4');

    // Edit a field.
    await page.goto(`${server.url}/ui/orgs/platform/projects/network/workspaces/vpc/settings`);
    const description = page.getByLabel('Description', {exact: true});
    await description.fill('the production network');
    await page.click('button:has-text("Save settings")');
    await page.getByText('Saved.').first().waitFor();
    let shown = await server.api('GET', '/iacm/api/orgs/platform/projects/network/workspaces/vpc');
    assert.equal(shown.body.description, 'the production network');

    // Someone else saves in between: this page's edit is refused with 412, nothing overwritten.
    await page.getByLabel('Description', {exact: true}).waitFor();
    const theirs = {...shown.body, description: 'changed elsewhere'};
    await server.must('PUT', '/iacm/api/orgs/platform/projects/network/workspaces/vpc', theirs);
    await page.getByLabel('Description', {exact: true}).fill('my stale edit');
    await page.click('button:has-text("Save settings")');
    await page.locator('.stale-notice').getByText('changed by someone else').waitFor();
    shown = await server.api('GET', '/iacm/api/orgs/platform/projects/network/workspaces/vpc');
    assert.equal(shown.body.description, 'changed elsewhere');
    await screenshot(page, 'workspace-settings-stale');
    assert.deepEqual(await unlabelledControls(page), []);
    await page.click('button:has-text("Reload")');
    await page.waitForFunction(() => document.querySelector('#main textarea[name=description]')?.value === 'changed elsewhere');
    assert.deepEqual(unexpectedProblems(page, ['status of 412']), []);
    await context.close();
  });

  test('two terraform applies, the diff between the versions, and a rollback', async () => {
    const dir = path.join(work, 'vpc');
    const config = (size, extra) => `
resource "terraform_data" "network" {
  input = {cidr = "10.0.0.0/16", size = "${size}"}
}
${extra ? 'resource "terraform_data" "extra" {\n  input = "added"\n}\n' : ''}
variable "db_password" {
  type      = string
  sensitive = true
  default   = "hunter2"
}
output "password" {
  value     = var.db_password
  sensitive = true
}
output "size" {
  value = terraform_data.network.input.size
}
`;
    await server.terraformApply(dir, 'platform', 'network', 'vpc', config('small', false));
    await server.terraformApply(dir, 'platform', 'network', 'vpc', config('large', true));

    const {context, page} = await openPage(browser, server);
    await signIn(page, server);
    await waitForLocation(page, /\/ui$/);
    await page.goto(`${server.url}/ui/orgs/platform/projects/network/workspaces/vpc/state`);
    const rows = page.locator('form#state-versions tr[data-version-id]');
    await rows.nth(1).waitFor();
    assert.equal(await rows.count(), 2);
    await screenshot(page, 'state-versions');
    assert.deepEqual(await unlabelledControls(page), []);

    // Compare the older (serial 1) with the newer (serial 2).
    await page.getByLabel('Compare from serial 1', {exact: true}).check();
    await page.getByLabel('Compare to serial 2', {exact: true}).check();
    await page.click('#state-compare');
    await page.locator('#state-diff').waitFor();
    await waitForLocation(page, /\/state\/diff\?from=.+&to=.+/);
    await page.locator('#state-diff-summary').waitFor();
    await page.locator('section[aria-labelledby=diff-added]').getByText('terraform_data.extra').waitFor();
    const changed = page.locator('.diff-resource[data-address="terraform_data.network"]');
    await changed.waitFor();
    const changedText = await changed.innerText();
    assert.match(changedText, /small/);
    assert.match(changedText, /large/);
    const diffText = await page.locator('#state-diff').innerText();
    assert.doesNotMatch(diffText, /hunter2/);  // the sensitive output is masked
    await screenshot(page, 'state-diff');
    assert.deepEqual(await unlabelledControls(page), []);

    // The diff page is a URL that survives a reload.
    await page.reload();
    await page.locator('section[aria-labelledby=diff-added]').getByText('terraform_data.extra').waitFor();

    // Roll back to serial 1, confirming with the workspace's identifier.
    await page.goto(`${server.url}/ui/orgs/platform/projects/network/workspaces/vpc/state`);
    await page.getByRole('button', {name: 'Roll back to serial 1'}).click();
    await page.fill('#confirm-input', 'vpc');
    await page.click('dialog button.danger');
    await page.locator('.notice-ok').first().waitFor();
    const versions = await server.api('GET',
        '/iacm/api/orgs/platform/projects/network/workspaces/vpc/data?data_type=state_raw');
    assert.equal(versions.body.length, 3);
    assert.ok(versions.body[0].rollback_source_id, JSON.stringify(versions.body[0]));
    const state = await server.api('GET', '/iacm/api/orgs/platform/projects/network/workspaces/vpc/terraform-backend');
    assert.equal(state.body.serial, 3);
    assert.equal(state.body.outputs.size.value, 'small');
    assert.deepEqual(unexpectedProblems(page), []);
    await context.close();
  });

  test('the lock holder while a LOCK holds the state, then force-unlock', async () => {
    const lockPath = '/iacm/api/orgs/platform/projects/network/workspaces/vpc/terraform-backend/lock';
    const info = {ID: 'f00dcafe-0000-4000-8000-000000000001', Operation: 'OperationTypeApply',
                  Who: 'alice@build-7', Version: '1.11.4', Created: new Date().toISOString(), Path: '', Info: ''};
    const r = await server.api('LOCK', lockPath, info);
    assert.equal(r.status, 200);

    const {context, page} = await openPage(browser, server);
    await signIn(page, server);
    await waitForLocation(page, /\/ui$/);
    // The list shows who holds it.
    await page.goto(`${server.url}/ui/orgs/platform/projects/network`);
    await page.locator('tr', {hasText: 'vpc'}).getByText('alice@build-7').waitFor();
    await screenshot(page, 'workspace-list-locked');

    // From the workspace page to its Lock tab with the keyboard alone.
    await page.goto(`${server.url}/ui/orgs/platform/projects/network/workspaces/vpc/settings`);
    await page.locator('nav.tabs').waitFor();
    let reached = false;  // (the page puts focus on its main content after each navigation)
    for (let i = 0; i < 40 && !reached; i += 1) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement.matches('nav.tabs a') &&
                                          document.activeElement.textContent === 'Lock');
    }
    assert.ok(reached, 'the Lock tab is reachable with Tab');
    await page.keyboard.press('Enter');
    await waitForLocation(page, /\/workspaces\/vpc\/lock$/);
    await page.locator('#lock-who').getByText('alice@build-7').waitFor();
    assert.match(await page.locator('#lock-id').innerText(), /f00dcafe/);
    assert.match(await page.locator('#lock-operation').innerText(), /OperationTypeApply/);
    await screenshot(page, 'lock-panel');

    await page.click('#force-unlock');
    await page.fill('#confirm-input', 'vpc');
    await page.click('dialog button.danger');
    await page.locator('#lock-result').waitFor();
    const after = await server.api('GET', '/iacm/api/orgs/platform/projects/network/workspaces/vpc');
    assert.equal(after.body.backend_locked, false);
    assert.deepEqual(unexpectedProblems(page), []);
    await context.close();
  });

  test('hostile names are shown as text', async () => {
    const xss = '<img src=x onerror=alert(1)>';
    await server.createWorkspace('platform', 'network', 'hostile', {name: xss, description: xss,
                                                                   tags: {'<b>': '<i>x</i>'}});
    const {context, page} = await openPage(browser, server);
    await signIn(page, server);
    await waitForLocation(page, /\/ui$/);
    await page.goto(`${server.url}/ui/orgs/platform/projects/network`);
    await page.getByText(xss, {exact: true}).first().waitFor();
    assert.equal(await page.locator('#main img').count(), 0);
    await page.goto(`${server.url}/ui/orgs/platform/projects/network/workspaces/hostile/settings`);
    await page.locator('h1', {hasText: xss}).waitFor();
    assert.equal(await page.locator('#main img, #main b, #main i').count(), 0);
    assert.deepEqual(unexpectedProblems(page), []);  // no alert dialog, no errors
    await context.close();
  });

  test('policy evaluations of a workspace with their messages; the Rego editor shows a parse error at its line', async () => {
    const pm = '/pm/api/v1';
    const level = '?orgIdentifier=platform&projectIdentifier=network';
    const rego = 'package workspace_rules\n\nimport rego.v1\n\n' +
                 'deny contains msg if {\n  contains(input.workspace.description, "forbidden")\n' +
                 '  msg := sprintf("workspace %s: forbidden in its description", [input.workspace.identifier])\n}\n';
    await server.must('POST', pm + '/policies' + level, {identifier: 'no_forbidden', name: 'No forbidden', rego});
    await server.must('POST', pm + '/policysets' + level, {
      identifier: 'ws_rules', name: 'Workspace rules', type: 'workspace', action: 'onsave', enabled: true,
      policies: [{identifier: 'no_forbidden', severity: 'warning'}]});
    const wsPath = '/iacm/api/orgs/platform/projects/network/workspaces/vpc';
    const shown = await server.must('GET', wsPath);
    await server.must('PUT', wsPath, {...shown.body, description: 'a forbidden word'});

    const {context, page} = await openPage(browser, server);
    await signIn(page, server);
    await waitForLocation(page, /\/ui$/);
    await page.goto(`${server.url}/ui/orgs/platform/projects/network/workspaces/vpc/policies`);
    const evaluation = page.locator('details.evaluation[data-status="warning"]').first();
    await evaluation.waitFor();
    await evaluation.getByText('workspace vpc: forbidden in its description').waitFor();
    await screenshot(page, 'workspace-policies');
    assert.deepEqual(await unlabelledControls(page), []);

    await page.goto(`${server.url}/ui/policies/no_forbidden?org=platform&project=network`);
    const editor = page.locator('#rego');
    await editor.waitFor();
    await editor.fill(rego.replace('msg := sprintf', 'msg := sprintf(').replace('\n}\n', '\n}}\n'));
    await page.click('#policy-save');
    const error = page.locator('#rego-error .rego-error-message');
    await error.waitFor();
    assert.match(await error.innerText(), /rego_parse_error/);
    assert.match(await page.locator('#rego-error').getAttribute('data-line'), /^\d+$/);
    await screenshot(page, 'rego-editor-error');
    assert.deepEqual(await unlabelledControls(page), []);
    // Nothing was saved.
    const policy = await server.must('GET', pm + '/policies/no_forbidden' + level);
    assert.equal(policy.body.rego, rego);
    assert.deepEqual(unexpectedProblems(page, ['status of 400']), []);
    await context.close();
  });

  test('a run: the log follows while it runs, then approve and the apply ends applied', async () => {
    const repo = path.join(work, 'repo');
    fs.mkdirSync(repo, {recursive: true});
    fs.writeFileSync(path.join(repo, 'main.tf'), `
resource "terraform_data" "app" {
  input = "v1"
  provisioner "local-exec" {
    command = "for i in 1 2 3; do echo tick $i; sleep 1; done"
  }
}
output "app" {
  value = terraform_data.app.output
}
`);
    const env = {...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't',
                 GIT_COMMITTER_EMAIL: 't@x'};
    for (const args of [['init', '-q', '-b', 'main'], ['add', '.'], ['commit', '-q', '-m', 'app']]) {
      await runCommand('git', args, {cwd: repo, env});
    }
    await server.createWorkspace('platform', 'network', 'app', {repository: repo, repository_branch: 'main'});

    const {context, page} = await openPage(browser, server);
    await signIn(page, server);
    await waitForLocation(page, /\/ui$/);
    await page.goto(`${server.url}/ui/orgs/platform/projects/network/workspaces/app/runs`);
    await page.selectOption('#run-kind', 'apply');
    await page.fill('#run-message', 'from the browser test');
    await page.click('#run-start');
    await waitForLocation(page, /\/workspaces\/app\/runs\/[^/]+$/);
    await page.locator('#run-status[data-status="awaiting_approval"]').waitFor({timeout: 120000});
    await page.locator('#run-log').getByText('Plan: 1 to add').waitFor();
    await page.click('#run-approve');
    // The log goes on following into the apply: the provisioner's lines arrive as it runs.
    await page.locator('#run-log').getByText('tick 3').waitFor({timeout: 120000});
    await page.locator('#run-status[data-status="applied"]').waitFor({timeout: 120000});
    await screenshot(page, 'run-applied');
    assert.deepEqual(await unlabelledControls(page), []);
    const state = await server.api('GET', '/iacm/api/orgs/platform/projects/network/workspaces/app/terraform-backend');
    assert.equal(state.body.outputs.app.value, 'v1');
    assert.deepEqual(unexpectedProblems(page), []);
    await context.close();
  });

  test('a page of 100 workspaces: render time and bytes of the first load (measured, not asserted)', async () => {
    for (let i = 0; i < 100; i += 1) {
      await server.createWorkspace('platform', 'network', `bulk_${String(i).padStart(3, '0')}`,
                                   {tags: {team: i % 2 ? 'red' : 'blue'}});
    }
    const {context, page} = await openPage(browser, server);
    const transferred = [];
    page.on('requestfinished', async (request) => {
      const sizes = await request.sizes().catch(() => null);
      const type = request.resourceType();
      if (sizes && ['document', 'script', 'stylesheet'].includes(type)) {
        transferred.push(sizes.responseBodySize + sizes.responseHeadersSize);
      }
    });
    await page.goto(`${server.url}/ui/signin`);
    await page.locator('#token').waitFor();
    await page.waitForLoadState('networkidle');
    const firstLoad = transferred.reduce((a, b) => a + b, 0);
    await page.fill('#token', server.token);
    await page.click('form.signin button[type=submit]');
    await waitForLocation(page, /\/ui$/);
    const timings = [];
    for (let round = 0; round < 5; round += 1) {
      await page.goto(`${server.url}/ui/orgs/platform/projects/network?limit=100&page=1`);
      await page.locator('#main tbody tr').nth(99).waitFor();
      const ms = await page.evaluate(() => performance.getEntriesByName('workspace-list:render')[0]?.duration);
      assert.equal(await page.locator('#main tbody tr').count(), 100);
      timings.push(ms);
    }
    timings.sort((a, b) => a - b);
    await page.goto(`${server.url}/ui/orgs/platform/projects/network?limit=25`);
    await page.locator('#main tbody tr').nth(24).waitFor();
    await screenshot(page, 'workspace-list');
    assert.deepEqual(await unlabelledControls(page), []);
    const everything = transferred.reduce((a, b) => a + b, 0);
    const line = `console: first load ${(firstLoad / 1024).toFixed(1)} KiB transferred (HTML, JS, CSS), ` +
                 `${(everything / 1024).toFixed(1)} KiB after visiting the list; 100-row list rendered in ` +
                 `${timings[2].toFixed(1)} ms (median of 5; min ${timings[0].toFixed(1)}, max ${timings[4].toFixed(1)})`;
    console.log(line);
    fs.mkdirSync(ARTIFACTS, {recursive: true});
    fs.writeFileSync(path.join(ARTIFACTS, 'measurements.txt'), line + '\n');
    assert.deepEqual(unexpectedProblems(page), []);
    await context.close();
  });

  test('the console is served with a CSP, immutable hashed assets and gzip', async () => {
    const index = await fetch(`${server.url}/ui/orgs/a/projects/b`);
    assert.equal(index.status, 200);
    const csp = index.headers.get('content-security-policy');
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    const html = await index.text();
    const main = html.match(/src="(\/ui\/assets\/[0-9a-f]{16}\/js\/main\.js)"/);
    assert.ok(main, html);
    assert.doesNotMatch(html, /<script>|<style>| on[a-z]+=/i);  // nothing inline
    const js = await fetch(server.url + main[1], {headers: {'Accept-Encoding': 'gzip'}});
    assert.equal(js.status, 200);
    assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(js.headers.get('content-encoding'), 'gzip');
    const stale = await fetch(server.url + main[1].replace(/assets\/[0-9a-f]+/, 'assets/0123456789abcdef'));
    assert.equal(stale.status, 404);
  });
});
