import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileForm, json, startAffix, type TestServer } from './harness.js';

/**
 * The official Python client (yandex_tracker_client), call by call, as its source makes them:
 * every request carries `Content-Type: application/json` and `X-Org-Id` (`not provided` when unset),
 * except uploads, where the header is dropped so requests sets multipart; objects are re-fetched and
 * deleted at the path of their `self`; list items must carry `self`; reading any issue attribute
 * first fetches `GET /v2/fields`.
 */
describe('the official Python client’s call sequence', () => {
  let affix: TestServer;
  let session: Record<string, string>;
  before(async () => {
    affix = await startAffix();
    const { token } = await affix.addUser('5005', 'bot');
    session = { authorization: `OAuth ${token}`, 'x-org-id': 'not provided', 'content-type': 'application/json' };
  });
  after(() => affix.close());

  const call = async (method: string, path: string, body?: unknown, expected = 200) => {
    const response = await fetch(new URL(path, affix.url), { method, headers: session, body: body === undefined ? undefined : JSON.stringify(body) });
    assert.equal(response.status, expected, `${method} ${path}`);
    return response.status === 204 ? null : json(response);
  };
  const upload = async (path: string, filename: string, content: string) => {
    const { 'content-type': _dropped, ...headers } = session;
    const response = await fetch(new URL(`${path}?filename=${filename}`, affix.url), { method: 'POST', headers, body: fileForm(content, 'file') });
    assert.equal(response.status, 201);
    return json(response);
  };
  const pathOf = (url: string) => new URL(url).pathname;

  it('creates an issue, attaches, lists, downloads, attaches a temporary file through a comment, and deletes', async () => {
    // client.issues.create(queue='TEST', summary=..., attachments=['report.txt'])
    const first = await upload('/v2/attachments/', 'report.txt', 'quarterly report');
    const issue = await call('POST', '/v2/issues/', { queue: 'TEST', summary: 'from python', attachmentIds: [first.id] }, 201);
    // issue.key -> Issues.fields -> GET /v2/fields/ (every item a Reference: it must have self)
    for (const field of await call('GET', '/v2/fields/')) assert.ok(field.self && field.schema && field.id);
    // issue.attachments.create('notes.txt')
    const attached = await upload(`/v2/issues/${issue.key}/attachments/`, 'notes.txt', 'some notes');
    // list(issue.attachments) -> GET /v2/issues/KEY/attachments/
    const listed = await call('GET', `/v2/issues/${issue.key}/attachments/`);
    assert.deepEqual(listed.map((a: any) => a.name), ['report.txt', 'notes.txt']);
    for (const item of listed) assert.ok(item.self && item.createdBy.self);
    // attachment.download_to(dir) -> stream GET urljoin(base_url, content)
    const download = await fetch(listed[1].content, { headers: session });
    assert.equal(await download.text(), 'some notes');
    // issue.comments.create(text=..., attachments=['log.txt'])
    const log = await upload('/v2/attachments/', 'log.txt', 'log lines');
    const comment = await call('POST', `/v2/issues/${issue.key}/comments/`, { text: 'log attached', attachmentIds: [log.id] }, 201);
    assert.equal(comment.attachments[0].id, log.id);
    const afterComment = await call('GET', `/v2/issues/${issue.key}/attachments/`);
    assert.equal(afterComment.find((a: any) => a.id === log.id).commentId, comment.longId);
    // attachment.delete() -> DELETE <path of self>
    await call('DELETE', pathOf(attached.self), undefined, 204);
    // A re-fetch by the path of self (Reference dereference) answers 404 once deleted.
    await call('GET', pathOf(attached.self), undefined, 404);
    assert.deepEqual((await call('GET', `/v2/issues/${issue.key}/attachments/`)).map((a: any) => a.name), ['report.txt', 'log.txt']);
  });
});
