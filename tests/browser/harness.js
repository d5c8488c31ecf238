// What the console's browser tests share: the real server binary on a free loopback port with a
// fresh data directory, Debian's chromium driven by playwright-core, the API for setting up
// data, the real terraform for state writes, and checks that fail a test on any console error,
// CSP violation or token in a URL.
import {execFile, spawn} from 'node:child_process';
import {once} from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {promisify} from 'node:util';

const run = promisify(execFile);
export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
export const ARTIFACTS = process.env.STATEHOUSE_BROWSER_ARTIFACTS ||
                         path.join(ROOT, 'tests/browser/artifacts');

export function chromiumPath() {
  const candidates = [process.env.CHROMIUM_BIN, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((p) => p && fs.existsSync(p)) || null;
}

async function freePort() {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const {port} = server.address();
  server.close();
  return port;
}

export class Server {
  static async start() {
    const bin = process.env.STATEHOUSE_BIN || path.join(ROOT, 'build/statehouse');
    if (!fs.existsSync(bin)) throw new Error(`no server binary at ${bin} (set STATEHOUSE_BIN)`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statehouse-browser-'));
    const port = await freePort();
    const log = fs.openSync(path.join(dir, 'server.log'), 'w');
    const child = spawn(bin, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', path.join(dir, 'data'),
                              '--log-level', 'warn'], {stdio: ['ignore', log, log]});
    const server = new Server(child, dir, `http://127.0.0.1:${port}`);
    const deadline = Date.now() + 30000;
    for (;;) {
      try {
        const r = await fetch(`${server.url}/readyz`);
        if (r.ok) break;
      } catch { /* not listening yet */ }
      if (child.exitCode !== null) throw new Error(`server exited: ${server.log()}`);
      if (Date.now() > deadline) throw new Error(`server not ready: ${server.log()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    server.token = fs.readFileSync(path.join(dir, 'data/admin.token'), 'utf8').trim();
    return server;
  }

  constructor(child, dir, url) {
    this.child = child;
    this.dir = dir;
    this.url = url;
  }

  log() {
    try { return fs.readFileSync(path.join(this.dir, 'server.log'), 'utf8'); } catch { return ''; }
  }

  async stop() {
    if (this.child.exitCode === null) {
      this.child.kill('SIGTERM');
      await Promise.race([once(this.child, 'exit'), new Promise((r) => setTimeout(r, 10000))]);
    }
    fs.rmSync(this.dir, {recursive: true, force: true});
  }

  // The API as any client uses it: {status, body, headers}.
  async api(method, urlPath, body, headers = {}) {
    const init = {method, headers: {'x-api-key': this.token, Accept: 'application/json', ...headers}};
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      init.headers['Content-Type'] = 'application/json';
    }
    const r = await fetch(this.url + urlPath, init);
    const text = await r.text();
    let parsed = text;
    try { parsed = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
    return {status: r.status, body: parsed, headers: r.headers};
  }

  async must(method, urlPath, body, headers) {
    const r = await this.api(method, urlPath, body, headers);
    if (r.status >= 300) throw new Error(`${method} ${urlPath}: ${r.status} ${JSON.stringify(r.body)}`);
    return r;
  }

  async createOrgProject(org, project) {
    await this.must('POST', '/v1/orgs', {org: {identifier: org, name: org}});
    await this.must('POST', `/v1/orgs/${org}/projects`, {project: {identifier: project, name: project}});
  }

  async createWorkspace(org, project, identifier, extra = {}) {
    return this.must('POST', `/iacm/api/orgs/${org}/projects/${project}/workspaces`, {
      identifier, name: identifier, provisioner: 'terraform', provisioner_version: '1.11.4',
      provider_connector: '', terraform_variables: {}, environment_variables: {}, ...extra});
  }

  // `terraform apply` of main.tf text in dir, with the workspace's http backend.
  async terraformApply(dir, org, project, ws, mainTf) {
    fs.mkdirSync(dir, {recursive: true});
    const address = `${this.url}/iacm/api/orgs/${org}/projects/${project}/workspaces/${ws}/terraform-backend`;
    fs.writeFileSync(path.join(dir, 'main.tf'), `${mainTf}
terraform {
  backend "http" {
    address        = "${address}"
    lock_address   = "${address}/lock"
    unlock_address = "${address}/lock"
    username       = "terraform"
  }
}
`);
    const env = {...process.env, TF_HTTP_PASSWORD: this.token, TF_IN_AUTOMATION: '1',
                 CHECKPOINT_DISABLE: '1'};
    const tf = process.env.TERRAFORM_BIN || 'terraform';
    if (!fs.existsSync(path.join(dir, '.terraform'))) {
      await run(tf, ['init', '-no-color', '-input=false'], {cwd: dir, env});
    }
    await run(tf, ['apply', '-no-color', '-input=false', '-auto-approve'], {cwd: dir, env});
  }
}

// A browser page that records what must never happen: uncaught errors, console errors, CSP
// violations, dialogs (an injected alert), and the token in any URL.
export async function openPage(browser, server, {viewport = {width: 1360, height: 900}} = {}) {
  const context = await browser.newContext({viewport});
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('dialog', async (d) => {
    problems.push(`unexpected dialog: ${d.type()} ${d.message()}`);
    await d.dismiss();
  });
  page.on('request', (r) => {
    const secret = server.token.split('.').pop();
    if (r.url().includes(secret)) problems.push(`token in a URL: ${r.url()}`);
  });
  page.problems = problems;
  return {context, page};
}

export async function signIn(page, server, token = server.token) {
  await page.goto(`${server.url}/ui/signin`);
  await page.fill('#token', token);
  await page.click('form.signin button[type=submit]');
}

// Waits until the page's own location matches. The console moves with the History API, and
// when that happens while a load is finishing (a redirect to sign-in right after goto or
// reload), Playwright's waitForURL can miss it and wait for a navigation that never comes.
export async function waitForLocation(page, pattern, {timeout = 30000} = {}) {
  await page.waitForFunction(([source, flags]) => new RegExp(source, flags).test(location.href),
                             [pattern.source, pattern.flags], {timeout});
}

export async function screenshot(page, name) {
  fs.mkdirSync(ARTIFACTS, {recursive: true});
  await page.screenshot({path: path.join(ARTIFACTS, `${name}.png`), fullPage: false});
}

// What a test should expect the console's API requests to be answered with (expected 4xx such as
// the 412 of a stale edit are console errors in Chromium's log): drops those lines.
export function unexpectedProblems(page, allowed = []) {
  return page.problems.filter((p) => !allowed.some((a) => p.includes(a)));
}

// Every visible form control of the page has a label (a <label>, aria-label or
// aria-labelledby): the names of those that do not.
export async function unlabelledControls(page) {
  return page.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
    .filter((el) => el.type !== 'hidden' && el.offsetParent !== null)
    .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') &&
                    !el.getAttribute('aria-labelledby'))
    .map((el) => el.id || el.name || el.outerHTML.slice(0, 80)));
}
