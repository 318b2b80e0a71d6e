// docs.test.mjs: starts the real server (temporary SQLite database and directories), loads
// /docs in headless Debian Chromium through playwright-core and checks that Swagger UI
// renders every operation of /openapi.json. Screenshot: build/docs.png.
// Run: node tests/browser/docs.test.mjs   (VOCERO_BIN overrides build/vocero,
// CHROMIUM_PATH overrides /usr/bin/chromium). Prints "N passed, N failed".
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.resolve(ROOT, process.env.VOCERO_BIN || 'build/vocero');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SCREENSHOT = path.join(ROOT, 'build', 'docs.png');
const START_TIMEOUT_MS = 30000;
const RENDER_TIMEOUT_MS = 30000;
const TOTAL_TIMEOUT_MS = 180000;
// Operations the page must show whatever else the document grows to contain.
const MUST_SHOW = [
    ['GET', '/'],
    ['POST', '/auth/register'],
    ['POST', '/auth/login'],
    ['GET', '/auth/me'],
    ['POST', '/voices/upload'],
    ['GET', '/voices'],
    ['GET', '/history'],
    ['GET', '/download/{filename}'],
];

let passed = 0;
let failed = 0;
let server = null;
let browser = null;
let tmp = null;
let serverLog = null;

function check(name, ok, detail) {
    if (ok) {
        passed++;
        console.log(`ok   ${name}`);
    } else {
        failed++;
        console.log(`FAIL ${name}${detail ? ': ' + detail : ''}`);
    }
    return ok;
}

function freePort() {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.unref();
        s.on('error', reject);
        s.listen(0, '127.0.0.1', () => {
            const { port } = s.address();
            s.close(() => resolve(port));
        });
    });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function serverLogTail(n = 40) {
    try {
        return fs.readFileSync(serverLog, 'utf8').split('\n').slice(-n).join('\n');
    } catch {
        return '(no server log)';
    }
}

async function get(url, timeoutMs = 5000) {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = Buffer.from(await res.arrayBuffer());
    return { status: res.status, headers: res.headers, body };
}

async function startServer() {
    if (!fs.existsSync(BIN)) throw new Error(`server binary ${BIN} not found (run make first)`);
    const swaggerDir = path.join(ROOT, 'node_modules', 'swagger-ui-dist');
    if (!fs.existsSync(path.join(swaggerDir, 'swagger-ui-bundle.js')))
        throw new Error(`${swaggerDir} missing (run scripts/install-deps.sh)`);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vocero-docs-'));
    const port = await freePort();
    const env = {
        PATH: process.env.PATH || '/usr/bin:/bin',
        VOCERO_ENV: 'development',
        DATABASE_URL: 'sqlite://' + path.join(tmp, 'data', 'vocero.db'),
        DATA_DIR: path.join(tmp, 'data'),
        STORAGE_DIR: path.join(tmp, 'outputs'),
        VOICES_DIR: path.join(tmp, 'voices'),
        MODELS_DIR: path.join(tmp, 'models'),
        HOST: '127.0.0.1',
        PORT: String(port),
        LOG_LEVEL: 'info',
        ALLOWED_HOSTS: '*',
        BCRYPT_COST: '4',
        SWAGGER_UI_DIR: swaggerDir,
    };
    for (const k of ['ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS'])
        if (process.env[k]) env[k] = process.env[k];
    for (const d of ['data', 'outputs', 'voices', 'models']) fs.mkdirSync(path.join(tmp, d));
    serverLog = path.join(tmp, 'server.log');
    const fd = fs.openSync(serverLog, 'w');
    // --env-file pointing at an empty file keeps a developer's ./.env out of the test.
    const envFile = path.join(tmp, 'empty.env');
    fs.writeFileSync(envFile, '');
    server = spawn(BIN, ['serve', '--env-file', envFile], {
        cwd: tmp,
        env,
        stdio: ['ignore', fd, fd],
    });
    fs.closeSync(fd);
    server.exited = new Promise((resolve) =>
        server.on('exit', (code, signal) => resolve({ code, signal })),
    );
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
        if (server.exitCode !== null || server.signalCode !== null)
            throw new Error(
                `server exited early (code ${server.exitCode}, signal ${server.signalCode}):\n` +
                    serverLogTail(),
            );
        try {
            const r = await get(base + '/', 1000);
            return { base, health: r };
        } catch {
            await sleep(100);
        }
    }
    throw new Error(`server did not answer GET / within ${START_TIMEOUT_MS} ms:\n` + serverLogTail());
}

async function stopServer() {
    if (!server || server.exitCode !== null || server.signalCode !== null) return null;
    server.kill('SIGTERM');
    const res = await Promise.race([server.exited, sleep(15000).then(() => null)]);
    if (res === null) {
        server.kill('SIGKILL');
        await server.exited;
    }
    return res;
}

async function cleanup() {
    if (browser) await browser.close().catch(() => {});
    browser = null;
    if (server && server.exitCode === null && server.signalCode === null) {
        server.kill('SIGKILL');
        await server.exited.catch(() => {});
    }
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    tmp = null;
}

function specOperations(spec) {
    const ops = [];
    const methods = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];
    for (const [p, item] of Object.entries(spec.paths || {}))
        for (const m of methods) if (item[m]) ops.push(`${m.toUpperCase()} ${p}`);
    return ops.sort();
}

async function main() {
    const { base, health } = await startServer();
    let body = null;
    try {
        body = JSON.parse(health.body.toString('utf8'));
    } catch {
        /* checked below */
    }
    check('GET / answers with the health JSON', body && typeof body.status === 'string',
        `status ${health.status}, body ${health.body.toString('utf8').slice(0, 200)}`);

    const spec = await get(base + '/openapi.json');
    let doc = null;
    try {
        doc = JSON.parse(spec.body.toString('utf8'));
    } catch {
        /* checked below */
    }
    check('GET /openapi.json is an OpenAPI 3.1 document',
        spec.status === 200 && doc && /^3\.1\./.test(String(doc.openapi)),
        `status ${spec.status}, openapi ${doc && doc.openapi}`);
    const expected = doc ? specOperations(doc) : [];

    for (const asset of ['swagger-ui.css', 'swagger-ui-bundle.js']) {
        const r = await get(`${base}/docs/${asset}`);
        const want = asset.endsWith('.css') ? 'text/css' : 'javascript';
        const ct = r.headers.get('content-type') || '';
        check(`GET /docs/${asset} is served (${want})`,
            r.status === 200 && r.body.length > 1000 && ct.includes(want),
            `status ${r.status}, ${r.body.length} bytes, content-type ${ct}`);
    }
    const traversal = await get(`${base}/docs/..%2f..%2fpackage.json`);
    check('GET /docs/..%2f..%2fpackage.json does not escape SWAGGER_UI_DIR',
        traversal.status === 404 || traversal.status === 400, `status ${traversal.status}`);

    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
        executablePath: CHROMIUM,
        timeout: 60000,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync',
            '--disable-dev-shm-usage'],
    });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const pageErrors = [];
    const badResponses = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('response', (r) => {
        if (r.status() >= 400) badResponses.push(`${r.status()} ${r.url()}`);
    });
    const nav = await page.goto(base + '/docs', { waitUntil: 'load', timeout: RENDER_TIMEOUT_MS });
    check('GET /docs returns an HTML page', nav && nav.status() === 200 &&
        (nav.headers()['content-type'] || '').includes('text/html'),
        nav ? `status ${nav.status()}, content-type ${nav.headers()['content-type']}` : 'no response');

    let rendered = true;
    try {
        await page.waitForSelector('.opblock', { timeout: RENDER_TIMEOUT_MS });
        // Let Swagger UI finish rendering every tag section.
        await page.waitForFunction((n) => document.querySelectorAll('.opblock').length >= n,
            Math.max(expected.length, 1), { timeout: RENDER_TIMEOUT_MS });
    } catch (e) {
        rendered = false;
    }
    const shown = await page.$$eval('.opblock', (els) => els.map((el) => {
        const m = el.querySelector('.opblock-summary-method');
        const p = el.querySelector('.opblock-summary-path');
        const pathText = p ? (p.getAttribute('data-path') || p.textContent) : '';
        return `${(m ? m.textContent : '').trim().toUpperCase()} ${pathText.replace(/[\u200b\s]/g, '')}`;
    }));
    check('Swagger UI renders the operations list', rendered && shown.length > 0,
        `${shown.length} operations rendered; page errors: ${pageErrors.join('; ') || 'none'}; ` +
        `failed requests: ${badResponses.join(', ') || 'none'}`);
    const shownSet = new Set(shown);
    for (const [m, p] of MUST_SHOW)
        check(`the page lists ${m} ${p}`, shownSet.has(`${m} ${p}`));
    const missing = expected.filter((op) => !shownSet.has(op));
    const extra = shown.filter((op) => !expected.includes(op));
    check('the page lists exactly the operations of /openapi.json',
        expected.length > 0 && missing.length === 0 && extra.length === 0,
        `missing: ${missing.join(', ') || 'none'}; not in the document: ${extra.join(', ') || 'none'}`);
    check('the Authorize button is shown (security schemes)',
        (await page.locator('.btn.authorize').count()) > 0);
    check('no JavaScript errors on the page', pageErrors.length === 0, pageErrors.join('; '));

    fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`screenshot: ${path.relative(ROOT, SCREENSHOT)}`);
    await browser.close();
    browser = null;

    const res = await stopServer();
    check('server exits with status 0 on SIGTERM', res && res.code === 0,
        res ? `code ${res.code}, signal ${res.signal}` : 'still running 15 s after SIGTERM');
}

const watchdog = setTimeout(async () => {
    console.log(`FAIL whole test: still running after ${TOTAL_TIMEOUT_MS / 1000} s`);
    failed++;
    await cleanup();
    console.log(`${passed} passed, ${failed} failed`);
    process.exit(1);
}, TOTAL_TIMEOUT_MS);

try {
    await main();
} catch (e) {
    failed++;
    console.log(`FAIL docs test aborted: ${e && e.stack ? e.stack : e}`);
    if (serverLog) console.log('--- server log (tail) ---\n' + serverLogTail());
}
if (failed && serverLog && tmp) console.log('--- server log (tail) ---\n' + serverLogTail(20));
await cleanup();
clearTimeout(watchdog);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
