import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileForm, json, startAffix, type TestServer } from './harness.js';

/** What the web UI stands on: sessions (cookie, CSRF), Tracker's queues and searches, usage and the file search, the pages' headers. */
describe('web UI: sessions, searches, usage and pages', () => {
  let affix: TestServer;
  let ivan: { token: string; apiKey: string; email: string };
  let eve: { token: string };
  let origin: string;

  before(async () => {
    affix = await startAffix({ 'session-ttl': '2s' });
    origin = new URL(affix.url).origin;
    const made = await affix.server.core.identity.addUser({ orgExtId: 'web', login: 'ivan', display: 'Ivan', email: 'ivan@web.test' });
    ivan = { token: made.token, apiKey: made.apiKey, email: made.user.email };
    eve = { token: (await affix.server.core.identity.addUser({ orgExtId: 'web', login: 'eve', display: 'Eve' })).token };
  });
  after(() => affix.close());

  const tracker = (token: string) => ({ authorization: `OAuth ${token}`, 'x-org-id': 'web' });
  const signIn = async (body: object, headers: Record<string, string> = { origin }) =>
    fetch(`${affix.url}/ui/api/session`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const cookieOf = (response: Response) => response.headers.get('set-cookie')!.split(';')[0]!;
  const withCookie = (cookie: string, extra: Record<string, string> = {}) => ({ cookie, ...extra });

  it('signs in with a Tracker token or a Zulip API key, into an HttpOnly SameSite=Strict cookie the dialects both take', async () => {
    const byToken = await signIn({ token: ivan.token, org: 'web' });
    assert.equal(byToken.status, 200);
    const session = await json(byToken);
    assert.deepEqual([session.user.login, session.org.id], ['ivan', 'web']);
    assert.equal(session.limits.maxFileBytes, 1 << 30);
    const setCookie = byToken.headers.get('set-cookie')!;
    assert.match(setCookie, /^affix_session=[A-Za-z0-9_-]{32,}; /);
    for (const attribute of ['HttpOnly', 'SameSite=Strict', 'Path=/', 'Expires=']) assert.ok(setCookie.includes(attribute), `${attribute} in ${setCookie}`);
    assert.ok(!setCookie.includes('Secure'), 'not Secure over plain http (browsers would drop it)');
    const cookie = cookieOf(byToken);
    assert.equal((await json(await fetch(`${affix.url}/v2/myself`, { headers: withCookie(cookie) }))).login, 'ivan');
    assert.equal((await fetch(`${affix.url}/api/v1/attachments`, { headers: withCookie(cookie) })).status, 200);
    const byKey = await signIn({ email: ivan.email.toUpperCase(), apiKey: ivan.apiKey });
    assert.equal(byKey.status, 200);
    assert.notEqual(cookieOf(byKey), cookie, 'a session of its own');
    // The secret is kept as a hash only.
    assert.ok(!JSON.stringify((await affix.backend.rows('sessions')) ?? []).includes(cookie.split('=')[1]!));
  });

  it('refuses wrong credentials with 401 and sets no cookie; sign-in from another site is 403', async () => {
    const wrong = await signIn({ token: 'nope', org: 'web' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get('set-cookie'), null);
    assert.equal((await signIn({ email: ivan.email, apiKey: 'nope' })).status, 401);
    assert.equal((await signIn({ token: ivan.token, org: 'web' }, { origin: 'https://evil.example' })).status, 403, 'a login forged by another site');
    assert.equal((await signIn({ token: ivan.token, org: 'web' }, {})).status, 403, 'no Origin at all');
    assert.equal((await signIn({ token: ivan.token })).status, 400);
  });

  it('takes writes made with the cookie only from Affix’s own origin (CSRF); an Authorization header always wins', async () => {
    const cookie = cookieOf(await signIn({ token: ivan.token, org: 'web' }));
    const create = (headers: Record<string, string>) =>
      fetch(`${affix.url}/v2/issues`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ queue: 'CSRF', summary: 's' }) });
    assert.equal((await create(withCookie(cookie, { origin }))).status, 201);
    assert.equal((await create(withCookie(cookie, { origin: 'https://evil.example' }))).status, 403);
    assert.equal((await create(withCookie(cookie))).status, 403, 'a write with the cookie and no Origin');
    assert.equal((await fetch(`${affix.url}/api/v1/user_uploads`, { method: 'POST', headers: withCookie(cookie, { origin: 'null' }), body: fileForm('x', 'x.txt') })).status, 403);
    const tus = await fetch(`${affix.url}/api/v1/tus`, { method: 'POST', headers: withCookie(cookie, { origin, 'tus-resumable': '1.0.0', 'upload-length': '3' }) });
    assert.equal(tus.status, 201, 'tus takes the session too');
    // A header never falls back to the cookie.
    assert.equal((await fetch(`${affix.url}/v2/myself`, { headers: withCookie(cookie, { authorization: 'OAuth wrong' }) })).status, 401);
    assert.equal((await fetch(`${affix.url}/v2/myself`, { headers: withCookie(cookie, { 'x-org-id': 'other' }) })).status, 403, 'the session’s org only');
    assert.equal((await fetch(`${affix.url}/v2/myself`, { headers: withCookie('affix_session=not-a-session-at-all-000000000000') })).status, 401);
  });

  it('signs out on the server: the cookie opens nothing afterwards, and sessions expire', async () => {
    const cookie = cookieOf(await signIn({ token: ivan.token, org: 'web' }));
    const out = await fetch(`${affix.url}/ui/api/session`, { method: 'DELETE', headers: withCookie(cookie, { origin }) });
    assert.equal(out.status, 204);
    assert.match(out.headers.get('set-cookie')!, /affix_session=;.*Expires=Thu, 01 Jan 1970/);
    assert.equal((await fetch(`${affix.url}/ui/api/session`, { headers: withCookie(cookie) })).status, 401);
    assert.equal((await fetch(`${affix.url}/v2/myself`, { headers: withCookie(cookie) })).status, 401);
    const short = cookieOf(await signIn({ token: ivan.token, org: 'web' }));
    await new Promise((r) => setTimeout(r, 2100));
    assert.equal((await fetch(`${affix.url}/v2/myself`, { headers: withCookie(short) })).status, 401, 'past --session-ttl');
    const report = await affix.server.core.collector.collect();
    assert.ok(report.sessionsExpired >= 1);
  });

  it('lists queues and searches issues as Tracker does: filter, order, query words, keys, pages', async () => {
    const headers = { ...tracker(ivan.token), 'content-type': 'application/json' };
    const make = async (queue: string, summary: string) => json(await fetch(`${affix.url}/v2/issues`, { method: 'POST', headers, body: JSON.stringify({ queue, summary }) }));
    for (let i = 1; i <= 11; i++) await make('ALPHA', `alpha issue ${i}${i === 7 ? ' printer' : ''}`);
    await make('BETA', 'the printer is on fire');
    const search = (body: object, query = '') => fetch(`${affix.url}/v2/issues/_search${query}`, { method: 'POST', headers, body: JSON.stringify(body) });
    const queues = await json(await fetch(`${affix.url}/v2/queues`, { headers }));
    assert.deepEqual(queues.map((q: { key: string }) => q.key).filter((k: string) => k !== 'CSRF'), ['ALPHA', 'BETA']);
    assert.deepEqual(Object.keys(queues[0]).sort(), ['assignAuto', 'denyVoting', 'description', 'id', 'key', 'name', 'self', 'version']);
    const byKey = await json(await search({ queue: 'ALPHA' }));
    assert.deepEqual(byKey.slice(8).map((i: { key: string }) => i.key), ['ALPHA-9', 'ALPHA-10', 'ALPHA-11'], 'keys by number, not as text');
    const newest = await search({ filter: { queue: 'ALPHA' }, order: '-createdAt' }, '?perPage=5&page=1');
    assert.deepEqual([newest.headers.get('x-total-count'), newest.headers.get('x-total-pages')], ['11', '3']);
    assert.equal((await json(newest))[0].key, 'ALPHA-11');
    const words = await json(await search({ query: 'printer' }));
    assert.deepEqual(words.map((i: { key: string }) => i.key).sort(), ['ALPHA-7', 'BETA-1']);
    const scoped = await json(await search({ query: 'Queue: BETA printer "Sort By": Created DESC' }));
    assert.deepEqual(scoped.map((i: { key: string }) => i.key), ['BETA-1']);
    assert.deepEqual((await json(await search({ keys: ['beta-1', 'ALPHA-2'] }))).map((i: { key: string }) => i.key), ['ALPHA-2', 'BETA-1']);
    assert.deepEqual((await json(await search({ filter: { summary: 'FIRE' } }))).map((i: { key: string }) => i.key), ['BETA-1']);
    assert.equal((await json(await search({ query: '100%' }))).length, 0, 'a % is a character, not a wildcard');
    assert.equal((await search({ queue: 'ALPHA', query: 'x' })).status, 400, 'one of queue, keys, filter, query');
    assert.deepEqual((await json(await search({ queue: 'ALPHA', keys: ['ALPHA-1'] }))).errorMessages, ['You can only use keys, a queue, or a search query']);
    assert.equal((await search({ filter: { assignee: 'me' } })).status, 400, 'a field Affix has not is refused, not ignored');
    assert.equal((await search({ query: 'Assignee: me()' })).status, 400);
    assert.equal((await search({ order: 'sideways' })).status, 400);
    assert.equal((await fetch(`${affix.url}/v2/issues/_search`, { method: 'POST', headers: tracker(eve.token) })).status, 200, 'an empty body finds all');
  });

  it('searches entities as Tracker does: {hits, pages, values, orderBy}', async () => {
    const headers = { ...tracker(ivan.token), 'content-type': 'application/json' };
    for (const summary of ['Website redesign', 'Office move', 'New website launch']) {
      await fetch(`${affix.url}/v2/entities/project`, { method: 'POST', headers, body: JSON.stringify({ fields: { summary } }) });
    }
    const found = await json(await fetch(`${affix.url}/v2/entities/project/_search?perPage=1`, { method: 'POST', headers, body: JSON.stringify({ input: 'website' }) }));
    assert.deepEqual([found.hits, found.pages, found.values.length, found.orderBy], [2, 2, 1, 'createdAt']);
    assert.equal(found.values[0].fields.summary, 'New website launch', 'newest first');
    const oldest = await json(await fetch(`${affix.url}/v2/entities/project/_search`, { method: 'POST', headers, body: JSON.stringify({ orderBy: 'createdAt', orderAsc: true }) }));
    assert.deepEqual(oldest.values.map((e: { fields: { summary: string } }) => e.fields.summary), ['Website redesign', 'Office move', 'New website launch']);
    assert.equal((await fetch(`${affix.url}/v2/entities/goal/_search`, { method: 'POST', headers, body: '{}' })).status, 200);
    assert.equal((await fetch(`${affix.url}/v2/entities/nope/_search`, { method: 'POST', headers, body: '{}' })).status, 400);
    assert.equal((await fetch(`${affix.url}/v2/entities/project/_search`, { method: 'POST', headers, body: JSON.stringify({ filter: { entityStatus: 'draft' } }) })).status, 400);
  });

  it('reports usage by kind, by month, largest files and top uploaders; searches names among the files the user may see', async () => {
    const headers = tracker(ivan.token);
    const upload = async (token: string, path: string, name: string, content: string) =>
      json(await fetch(`${affix.url}${path}`, { method: 'POST', headers: tracker(token), body: fileForm(content, name) }));
    await upload(ivan.token, '/v2/issues/ALPHA-1/attachments', 'report-final.txt', 'r'.repeat(3000));
    await upload(ivan.token, '/v2/attachments', 'report-draft.txt', 'd'.repeat(1000));
    await upload(eve.token, '/v2/attachments', 'report-secret.txt', 's'.repeat(500));
    await upload(eve.token, '/v2/issues/BETA-1/attachments', 'flames.bin', 'b'.repeat(2000));
    const usage = await json(await fetch(`${affix.url}/ui/api/usage`, { headers }));
    assert.equal(usage.usedBytes, 6500);
    assert.equal(usage.files, 4);
    assert.deepEqual(usage.byKind.map((k: { kind: string; bytes: number }) => [k.kind, k.bytes]), [['text', 4500], ['other', 2000]]);
    const month = new Date().toISOString().slice(0, 7);
    assert.deepEqual(usage.byMonth, [{ month, files: 4, bytes: 6500 }]);
    assert.deepEqual(usage.largest.map((f: { name: string }) => f.name), ['report-final.txt', 'flames.bin', 'report-draft.txt', 'report-secret.txt']);
    assert.deepEqual(usage.uploaders.map((u: { user: { login: string }; bytes: number }) => [u.user.login, u.bytes]), [['ivan', 4000], ['eve', 2500]]);
    const files = await fetch(`${affix.url}/ui/api/files?q=REPORT&perPage=10`, { headers });
    assert.equal(files.headers.get('x-total-count'), '2');
    assert.deepEqual((await json(files)).map((f: { name: string }) => f.name), ['report-draft.txt', 'report-final.txt'], 'Eve’s temporary file is hers alone');
    assert.equal((await fetch(`${affix.url}/ui/api/files?q=`, { headers })).status, 400);
    assert.equal((await fetch(`${affix.url}/ui/api/usage`)).status, 401);
  });

  it('serves the pages under a strict CSP, hashed assets for a year, deep links as the one page, and / to /ui/', async () => {
    const root = await fetch(`${affix.url}/`, { redirect: 'manual' });
    assert.deepEqual([root.status, root.headers.get('location')], [302, '/ui/']);
    const page = await fetch(`${affix.url}/ui/issues/ALPHA-1`);
    assert.equal(page.status, 200);
    const csp = page.headers.get('content-security-policy')!;
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(page.headers.get('x-frame-options'), 'DENY');
    assert.equal(page.headers.get('cache-control'), 'no-cache');
    const html = await page.text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
    const asset = /src="(\/ui\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const script = await fetch(`${affix.url}${asset}`);
    assert.equal(script.status, 200);
    assert.match(script.headers.get('cache-control')!, /max-age=31536000.*immutable/);
    assert.equal((await fetch(`${affix.url}/ui/assets/nothing-here.js`)).status, 404);
    assert.ok([403, 404].includes((await fetch(`${affix.url}/ui/assets/..%2F..%2Fpackage.json`)).status), 'nothing outside the built pages');
  });
});
