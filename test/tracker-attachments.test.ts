import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileForm, json, rawRequest, startAffix, type TestServer, type TestUser } from './harness.js';

const TRACKER_DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/;

describe('Tracker dialect: issue attachments', () => {
  let affix: TestServer;
  let ivan: TestUser;
  let maria: TestUser;
  let stranger: TestUser;

  const api = (user: TestUser, path: string, init: RequestInit = {}) =>
    fetch(`${affix.url}${path}`, { ...init, headers: { ...user.headers, ...(init.headers as Record<string, string>) } });
  const postJson = (user: TestUser, path: string, body: unknown) =>
    api(user, path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const createIssue = async (user: TestUser, extra: Record<string, unknown> = {}) => {
    const response = await postJson(user, '/v2/issues/', { queue: 'JUNE', summary: 'Printer on fire', ...extra });
    assert.equal(response.status, 201);
    return json(response);
  };
  const upload = (user: TestUser, path: string, content: string, name = 'notes.txt') =>
    api(user, `${path}?filename=${encodeURIComponent(name)}`, { method: 'POST', body: fileForm(content) });

  before(async () => {
    affix = await startAffix();
    ivan = await affix.addUser('1001', 'ivan', 'Ivan Ivanov');
    maria = await affix.addUser('1001', 'maria', 'Maria Petrova');
    stranger = await affix.addUser('2002', 'eve', 'Eve Other');
  });
  after(() => affix.close());

  it('attaches a file to an issue and answers 201 with the Attachment object', async () => {
    const issue = await createIssue(ivan);
    assert.match(issue.key, /^JUNE-\d+$/);
    assert.match(issue.id, /^[0-9a-f]{24}$/);

    const response = await upload(ivan, `/v2/issues/${issue.key}/attachments/`, 'hello, tracker');
    assert.equal(response.status, 201);
    const file = await json(response);
    assert.match(file.id, /^\d+$/);
    assert.deepEqual(Object.keys(file).sort(), ['content', 'createdAt', 'createdBy', 'id', 'mimetype', 'name', 'self', 'size']);
    assert.equal(file.self, `${affix.url}/v2/issues/${issue.key}/attachments/${file.id}`);
    assert.equal(file.content, `${affix.url}/v2/issues/${issue.key}/attachments/${file.id}/notes.txt`);
    assert.equal(file.name, 'notes.txt');
    assert.equal(file.mimetype, 'text/plain');
    assert.equal(file.size, 14);
    assert.match(file.createdAt, TRACKER_DATE);
    assert.deepEqual(Object.keys(file.createdBy).sort(), ['cloudUid', 'display', 'id', 'passportUid', 'self']);
    assert.equal(file.createdBy.id, ivan.userId);
    assert.equal(file.createdBy.display, 'Ivan Ivanov');
    assert.equal(file.createdBy.self, `${affix.url}/v2/users/${ivan.userId}`);
    assert.equal(typeof file.createdBy.passportUid, 'number');

    // Rows 7 and 4 of the endpoint table: the object by id, and the bytes under any name segment.
    assert.deepEqual(await json(await api(ivan, `/v2/issues/${issue.key}/attachments/${file.id}`)), file);
    const download = await api(ivan, new URL(file.content).pathname);
    assert.equal(download.status, 200);
    assert.equal(await download.text(), 'hello, tracker');
    assert.equal(download.headers.get('content-type'), 'text/plain');
    assert.equal(download.headers.get('x-content-type-options'), 'nosniff');
    const renamed = await api(ivan, `/v2/issues/${issue.key}/attachments/${file.id}/other-name.bin`);
    assert.equal(await renamed.text(), 'hello, tracker');
  });

  it('takes the name from ?filename=, else a filename field, else the part', async () => {
    const issue = await createIssue(ivan);
    const fromPart = await json(await api(ivan, `/v2/issues/${issue.key}/attachments`, { method: 'POST', body: fileForm('a', 'part-name.csv') }));
    assert.equal(fromPart.name, 'part-name.csv');
    assert.equal(fromPart.mimetype, 'text/csv');
    const form = fileForm('b', 'file');
    form.append('filename', 'field-after-file.md');
    const fromField = await json(await api(ivan, `/v2/issues/${issue.key}/attachments`, { method: 'POST', body: form }));
    assert.equal(fromField.name, 'field-after-file.md');
  });

  it('lists the files of an issue and of its comments, with commentId, by key or by id', async () => {
    const issue = await createIssue(ivan);
    const direct = await json(await upload(ivan, `/v2/issues/${issue.key}/attachments/`, 'direct', 'direct.txt'));
    const temp = await json(await upload(ivan, '/v2/attachments/', 'via comment', 'comment.txt'));
    assert.equal(temp.self, `${affix.url}/v2/attachments/${temp.id}`);

    const commentResponse = await postJson(ivan, `/v2/issues/${issue.key}/comments`, { text: 'see file', attachmentIds: [temp.id] });
    assert.equal(commentResponse.status, 201);
    const comment = await json(commentResponse);
    assert.equal(typeof comment.id, 'number');
    assert.match(comment.longId, /^[0-9a-f]{24}$/);
    assert.deepEqual(comment.attachments, [
      { self: `${affix.url}/v2/issues/${issue.key}/attachments/${temp.id}`, id: temp.id, display: 'comment.txt' },
    ]);

    for (const ref of [issue.key, issue.id]) {
      const list = await json(await api(ivan, `/v2/issues/${ref}/attachments/`));
      assert.deepEqual(list.map((a: any) => a.id), [direct.id, temp.id]);
      assert.equal(list[0].commentId, undefined);
      assert.equal(list[1].commentId, comment.longId);
      assert.equal(list[1].self, `${affix.url}/v2/issues/${issue.key}/attachments/${temp.id}`);
    }
    const comments = await json(await api(ivan, `/v2/issues/${issue.key}/comments/`));
    assert.equal(comments.length, 1);
    assert.equal(comments[0].attachments[0].id, temp.id);
  });

  it('links a temporary file once through attachmentIds on a new issue, as string or number', async () => {
    const a = await json(await upload(ivan, '/v2/attachments/', 'one', 'one.txt'));
    const b = await json(await upload(ivan, '/v2/attachments/', 'two', 'two.txt'));
    const issue = await createIssue(ivan, { attachmentIds: [a.id, Number(b.id)] });
    assert.deepEqual(issue.attachments.map((r: any) => r.id), [a.id, b.id]);

    const again = await postJson(ivan, '/v2/issues', { queue: 'JUNE', summary: 'reuse', attachmentIds: [a.id] });
    assert.equal(again.status, 422);
    const body = await json(again);
    assert.equal(body.statusCode, 422);
    assert.match(body.errorMessages[0], /already attached/);

    // The failed create left no issue behind: the queue's next number was not consumed by a half-made issue.
    const next = await createIssue(ivan);
    assert.equal(Number(next.key.split('-')[1]), Number(issue.key.split('-')[1]) + 1);
  });

  it('refuses attachmentIds that are not the caller’s temporary files, changing nothing', async () => {
    const marias = await json(await upload(maria, '/v2/attachments/', 'hers', 'hers.txt'));
    const issue = await createIssue(ivan);
    const response = await postJson(ivan, `/v2/issues/${issue.key}/comments`, { text: 'x', attachmentIds: [marias.id] });
    assert.equal(response.status, 422);
    const bad = await postJson(ivan, `/v2/issues/${issue.key}/comments`, { text: 'x', attachmentIds: ['abc'] });
    assert.equal(bad.status, 400);
    assert.deepEqual(await json(await api(ivan, `/v2/issues/${issue.key}/comments`)), []);
    // Maria's file is still hers to use.
    assert.equal((await postJson(maria, `/v2/issues/${issue.key}/comments`, { text: 'mine', attachmentIds: [marias.id] })).status, 201);
  });

  it('serves a temporary file by id and deletes it at /v2/attachments/{id}', async () => {
    const temp = await json(await upload(ivan, '/v2/attachments', 'temporary bytes', 'temp.txt'));
    assert.deepEqual(await json(await api(ivan, `/v2/attachments/${temp.id}`)), temp);
    assert.equal(await (await api(ivan, `/v2/attachments/${temp.id}/temp.txt`)).text(), 'temporary bytes');
    // Someone else's temporary upload is invisible, even inside the org.
    assert.equal((await api(maria, `/v2/attachments/${temp.id}`)).status, 404);
    const deleted = await api(ivan, `/v2/attachments/${temp.id}`, { method: 'DELETE', headers: { 'content-type': 'application/json' } });
    assert.equal(deleted.status, 204);
    assert.equal((await api(ivan, `/v2/attachments/${temp.id}`)).status, 404);
  });

  it('deletes an issue attachment at its exact self path with 204, even with a JSON content type and no body', async () => {
    const issue = await createIssue(ivan);
    const file = await json(await upload(ivan, `/v2/issues/${issue.key}/attachments/`, 'bye'));
    const response = await fetch(file.self + '/', {
      method: 'DELETE',
      headers: { ...ivan.headers, 'content-type': 'application/json' },
    });
    assert.equal(response.status, 204);
    assert.equal(await response.text(), '');
    assert.equal((await api(ivan, new URL(file.self).pathname)).status, 404);
    assert.deepEqual(await json(await api(ivan, `/v2/issues/${issue.key}/attachments`)), []);
    // An attachment of one issue is not reachable under another.
    const other = await createIssue(ivan);
    const kept = await json(await upload(ivan, `/v2/issues/${issue.key}/attachments/`, 'stay'));
    assert.equal((await api(ivan, `/v2/issues/${other.key}/attachments/${kept.id}`, { method: 'DELETE' })).status, 404);
  });

  it('answers /v3 like /v2 and ignores trailing slashes', async () => {
    const issue = await createIssue(ivan);
    const file = await json(await upload(ivan, `/v3/issues/${issue.key}/attachments`, 'v3'));
    assert.equal((await api(ivan, `/v3/issues/${issue.key}/attachments/${file.id}/`)).status, 200);
    assert.equal((await json(await api(ivan, `/v3/issues/${issue.key}/attachments/`))).length, 1);
  });

  it('builds URLs from the request host', async () => {
    const issue = await createIssue(ivan);
    const response = await rawRequest(`${affix.url}/v2/issues/${issue.key}`, {
      headers: { ...ivan.headers, host: 'files.example.test:9999' },
    });
    const file = JSON.parse(response.body);
    assert.equal(file.self, `http://files.example.test:9999/v2/issues/${issue.key}`);
  });

  describe('auth and organizations', () => {
    it('answers 401 in the Tracker error body without a token or with a bad one', async () => {
      for (const authorization of [undefined, 'OAuth wrong-token', 'Basic abc']) {
        const response = await fetch(`${affix.url}/v2/issues/JUNE-1/attachments`, {
          headers: authorization ? { authorization } : {},
        });
        assert.equal(response.status, 401);
        const body = await json(response);
        assert.deepEqual(Object.keys(body).sort(), ['errorMessages', 'errors', 'errorsData', 'statusCode']);
        assert.equal(body.statusCode, 401);
      }
    });

    it('accepts Bearer, X-Cloud-Org-ID (which wins) and the Python client’s "not provided"', async () => {
      const variants: Array<Record<string, string>> = [
        { authorization: `Bearer ${ivan.token}`, 'x-org-id': '1001' },
        { authorization: `OAuth ${ivan.token}`, 'x-cloud-org-id': '1001' },
        { authorization: `OAuth ${ivan.token}`, 'x-org-id': 'not provided', 'x-cloud-org-id': '1001' },
        { authorization: `OAuth ${ivan.token}`, 'X-Org-Id': 'not provided' },
      ];
      for (const headers of variants) assert.equal((await fetch(`${affix.url}/v2/myself`, { headers })).status, 200, JSON.stringify(headers));
      const wrongOrg = await fetch(`${affix.url}/v2/myself`, { headers: { authorization: `OAuth ${ivan.token}`, 'x-org-id': '2002' } });
      assert.equal(wrongOrg.status, 403);
      const cloudWins = await fetch(`${affix.url}/v2/myself`, {
        headers: { authorization: `OAuth ${ivan.token}`, 'x-org-id': '1001', 'x-cloud-org-id': '2002' },
      });
      assert.equal(cloudWins.status, 403);
    });

    it('hides every object of another organization behind 404', async () => {
      const issue = await createIssue(ivan);
      const file = await json(await upload(ivan, `/v2/issues/${issue.key}/attachments`, 'secret'));
      const temp = await json(await upload(ivan, '/v2/attachments', 'secret temp'));
      const probes: Array<[string, string]> = [
        ['GET', `/v2/issues/${issue.key}`],
        ['GET', `/v2/issues/${issue.id}/attachments`],
        ['GET', `/v2/issues/${issue.key}/attachments/${file.id}`],
        ['GET', `/v2/issues/${issue.key}/attachments/${file.id}/notes.txt`],
        ['DELETE', `/v2/issues/${issue.key}/attachments/${file.id}`],
        ['GET', `/v2/attachments/${file.id}`],
        ['GET', `/v2/attachments/${temp.id}/notes.txt`],
        ['DELETE', `/v2/attachments/${temp.id}`],
        ['GET', `/v2/users/${ivan.userId}`],
      ];
      for (const [method, path] of probes) {
        const response = await api(stranger, path, { method });
        assert.equal(response.status, 404, `${method} ${path}`);
        assert.equal((await json(response)).statusCode, 404);
      }
      const upload404 = await upload(stranger, `/v2/issues/${issue.key}/attachments`, 'intrusion');
      assert.equal(upload404.status, 404);
      const link = await postJson(stranger, '/v2/issues', { queue: 'EVE', summary: 'steal', attachmentIds: [temp.id] });
      assert.equal(link.status, 422);
      assert.equal(await (await api(ivan, new URL(file.content).pathname)).text(), 'secret');
    });
  });

  describe('errors in the Tracker body', () => {
    it('covers bad JSON, schema violations, unknown routes, unknown ids and bodies that are not multipart', async () => {
      const cases: Array<[Promise<Response>, number]> = [
        [api(ivan, '/v2/issues', { method: 'POST', body: '{"queue":', headers: { 'content-type': 'application/json' } }), 400],
        [postJson(ivan, '/v2/issues', { summary: 'no queue' }), 400],
        [postJson(ivan, '/v2/issues', { queue: 'bad key!', summary: 'x' }), 400],
        [api(ivan, '/v2/no-such-thing'), 404],
        [api(ivan, '/v2/issues/NOPE-1/attachments'), 404],
        [api(ivan, '/v2/attachments/999999'), 404],
        [api(ivan, '/v2/attachments/not-a-number'), 404],
        [postJson(ivan, '/v2/attachments/', { file: 'x' }), 415],
        [api(ivan, '/v2/attachments/', { method: 'POST', body: new FormData() }), 400],
      ];
      for (const [pending, status] of cases) {
        const response = await pending;
        assert.equal(response.status, status, response.url);
        const body = await json(response);
        assert.equal(body.statusCode, status);
        assert.ok(Array.isArray(body.errorMessages) && typeof body.errorMessages[0] === 'string');
        assert.equal(typeof body.errors, 'object');
        assert.deepEqual(body.errorsData, {});
      }
    });

    it('finds an issue attachment by the issue key or id in any case, and tells a missing issue from a missing file', async () => {
      const one = await json(await postJson(ivan, '/v2/issues', { queue: 'REF', summary: 'one' }));
      const two = await json(await postJson(ivan, '/v2/issues', { queue: 'REF', summary: 'two' }));
      const file = await json(await upload(ivan, `/v2/issues/${one.key}/attachments`, 'ref'));
      for (const ref of [one.key, one.key.toLowerCase(), one.id, one.id.toUpperCase()]) {
        const response = await api(ivan, `/v2/issues/${ref}/attachments/${file.id}`);
        assert.equal(response.status, 200, ref);
        assert.equal((await json(response)).id, file.id);
      }
      const elsewhere = await api(ivan, `/v2/issues/${two.key}/attachments/${file.id}`);
      assert.equal(elsewhere.status, 404);
      assert.match((await json(elsewhere)).errorMessages[0], /Attachment/);
      const missing = await api(ivan, `/v2/issues/REF-999/attachments/${file.id}`);
      assert.equal(missing.status, 404);
      assert.match((await json(missing)).errorMessages[0], /Issue/);
      const deleted = await api(ivan, `/v2/issues/${two.key}/attachments/${file.id}`, { method: 'DELETE' });
      assert.equal(deleted.status, 404);
      assert.equal((await api(ivan, `/v2/issues/${one.key}/attachments/${file.id}`)).status, 200);
    });

    it('answers 413 for a JSON body over the limit', async () => {
      const response = await postJson(ivan, '/v2/issues', { queue: 'JUNE', summary: 'x'.repeat(2 << 20) });
      assert.equal(response.status, 413);
      assert.equal((await json(response)).statusCode, 413);
    });
  });

  it('serves what the Python client reads around attachments: /v2/fields items with self, /v2/myself', async () => {
    const fields = await json(await api(ivan, '/v2/fields'));
    assert.ok(fields.length > 0);
    for (const field of fields) {
      assert.ok(field.self.startsWith(`${affix.url}/v2/fields/`));
      assert.equal(typeof field.schema.type, 'string');
    }
    const me = await json(await api(ivan, '/v2/myself'));
    assert.equal(me.login, 'ivan');
    assert.equal(me.self, `${affix.url}/v2/users/${ivan.userId}`);
  });

  it('publishes an OpenAPI document and a health check', async () => {
    const doc = await json(await fetch(`${affix.url}/openapi.json`));
    assert.equal(doc.openapi.startsWith('3.'), true);
    assert.ok(doc.paths['/v2/issues/{issue}/attachments']);
    assert.deepEqual(await json(await fetch(`${affix.url}/healthz`)), { status: 'ok' });
  });
});
