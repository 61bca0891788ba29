import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileForm, json, startAffix, type TestServer, type TestUser } from './harness.js';

const TRACKER_DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/;

describe('Tracker dialect, complete: entities, edits, imports, pagination', () => {
  let affix: TestServer;
  let ivan: TestUser;
  let maria: TestUser;
  let stranger: TestUser;

  const api = (user: TestUser, path: string, init: RequestInit = {}) =>
    fetch(`${affix.url}${path}`, { ...init, headers: { ...user.headers, ...(init.headers as Record<string, string>) } });
  const send = (user: TestUser, method: string, path: string, body?: unknown) =>
    api(user, path, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const temp = async (user: TestUser, name: string, content = name) =>
    json(await api(user, `/v2/attachments/?filename=${encodeURIComponent(name)}`, { method: 'POST', body: fileForm(content) }));
  const newIssue = async () => json(await send(ivan, 'POST', '/v2/issues/', { queue: 'DONE', summary: 'complete' }));

  before(async () => {
    affix = await startAffix();
    ivan = await affix.addUser('3003', 'ivan', 'Ivan Ivanov');
    maria = await affix.addUser('3003', 'maria', 'Maria');
    stranger = await affix.addUser('4004', 'eve');
  });
  after(() => affix.close());

  describe('entities', () => {
    it('creates a project, attaches a temporary file (200 with the entity), lists, gets, deletes', async () => {
      const created = await send(ivan, 'POST', '/v2/entities/project/', { fields: { summary: 'Website relaunch' } });
      assert.equal(created.status, 201);
      const project = await json(created);
      assert.match(project.id, /^[0-9a-f]{24}$/);
      assert.equal(project.entityType, 'project');
      assert.equal(project.shortId, 1);
      assert.equal(project.self, `${affix.url}/v2/entities/project/${project.id}`);
      assert.match(project.createdAt, TRACKER_DATE);

      const file = await temp(ivan, 'flowers.jpg');
      const attached = await send(ivan, 'POST', `/v2/entities/project/${project.id}/attachments/${file.id}?notify=false&expand=attachments`);
      assert.equal(attached.status, 200);
      const entity = await json(attached);
      assert.equal(entity.version, 2);
      assert.deepEqual(entity.attachments.map((a: any) => a.id), [file.id]);
      // Once used, the temporary file cannot be attached again.
      assert.equal((await send(ivan, 'POST', `/v2/entities/project/${project.id}/attachments/${file.id}`)).status, 422);

      // Document 002's shape, by 24-hex id or by shortId.
      for (const ref of [project.id, String(project.shortId)]) {
        const one = await json(await api(ivan, `/v2/entities/project/${ref}/attachments/${file.id}`));
        assert.deepEqual(Object.keys(one).sort(), ['content', 'createdAt', 'createdBy', 'id', 'mimetype', 'name', 'self', 'size']);
        assert.equal(one.self, `${affix.url}/v2/attachments/${file.id}`);
        assert.equal(one.content, `${affix.url}/v2/attachments/${file.id}/flowers.jpg`);
        assert.deepEqual(Object.keys(one.createdBy).sort(), ['cloudUid', 'display', 'id', 'passportUid', 'self']);
      }
      const listed = await json(await api(ivan, `/v2/entities/project/${project.id}/attachments`));
      assert.deepEqual(listed.map((a: any) => a.id), [file.id]);
      const viaFields = await json(await api(ivan, `/v2/entities/project/${project.id}?fields=attachments`));
      assert.equal(viaFields.attachments.length, 1);
      assert.equal((await json(await api(ivan, `/v2/entities/project/${project.id}`))).attachments, undefined);

      assert.equal((await api(ivan, `/v2/entities/project/${project.id}/attachments/${file.id}`, { method: 'DELETE' })).status, 204);
      assert.deepEqual(await json(await api(ivan, `/v2/entities/project/${project.id}/attachments`)), []);
    });

    it('attaches under a new name (the docs’ own ?expand=attachments&filename=newimage.jpg), with the files only when asked', async () => {
      const project = await json(await send(ivan, 'POST', '/v2/entities/project/', { fields: { summary: 'Renamed files' } }));
      const file = await temp(ivan, 'IMG_0042.jpg');
      const attached = await json(await send(ivan, 'POST', `/v2/entities/project/${project.id}/attachments/${file.id}?expand=attachments&filename=newimage.jpg`));
      assert.equal(attached.attachments[0].name, 'newimage.jpg');
      assert.equal(attached.attachments[0].content, `${affix.url}/v2/attachments/${file.id}/newimage.jpg`);
      assert.equal((await json(await api(ivan, `/v2/entities/project/${project.id}/attachments/${file.id}`))).name, 'newimage.jpg');
      const other = await temp(ivan, 'b.txt');
      const plain = await json(await send(ivan, 'POST', `/v2/entities/project/${project.id}/attachments/${other.id}`));
      assert.equal(plain.attachments, undefined, 'no files unless asked');
      const all = await json(await api(ivan, `/v2/entities/project/${project.id}?expand=all`));
      assert.deepEqual(all.attachments.map((a: any) => a.name), ['newimage.jpg', 'b.txt']);
      const third = await temp(ivan, 'c.txt');
      assert.equal((await send(ivan, 'POST', `/v2/entities/project/${project.id}/attachments/${third.id}?filename=${'x'.repeat(256)}`)).status, 422);
    });

    it('takes attachmentIds on entity comments', async () => {
      const goal = await json(await send(ivan, 'POST', '/v2/entities/goal', { fields: { summary: 'Ship it' } }));
      const file = await temp(ivan, 'plan.txt');
      const response = await send(ivan, 'POST', `/v2/entities/goal/${goal.id}/comments`, { text: 'the plan', attachmentIds: [Number(file.id)] });
      assert.equal(response.status, 201);
      const comment = await json(response);
      assert.deepEqual(comment.attachments.map((a: any) => a.id), [file.id]);
      assert.deepEqual((await json(await api(ivan, `/v2/entities/goal/${goal.id}/attachments`))).map((a: any) => a.id), [file.id]);
    });

    it('answers 400 for a bad type, 422 for bad ids, 404 for unknown or foreign entities and files', async () => {
      const portfolio = await json(await send(ivan, 'POST', '/v2/entities/portfolio', { fields: { summary: 'P' } }));
      const cases: Array<[Promise<Response>, number]> = [
        [api(ivan, `/v2/entities/epic/${portfolio.id}/attachments`), 400],
        [send(ivan, 'POST', '/v2/entities/epic', { fields: { summary: 'x' } }), 400],
        [api(ivan, '/v2/entities/portfolio/not-an-id/attachments'), 422],
        [api(ivan, `/v2/entities/portfolio/${portfolio.id}/attachments/abc`), 422],
        [api(ivan, '/v2/entities/portfolio/aaaaaaaaaaaaaaaaaaaaaaaa/attachments'), 404],
        [api(ivan, `/v2/entities/project/${portfolio.id}`), 404],
        [api(ivan, `/v2/entities/portfolio/${portfolio.id}/attachments/999999`), 404],
        [api(stranger, `/v2/entities/portfolio/${portfolio.id}`), 404],
        [send(ivan, 'POST', `/v2/entities/portfolio/${portfolio.id}/attachments/999999`), 422],
      ];
      for (const [pending, status] of cases) {
        const response = await pending;
        assert.equal(response.status, status, response.url);
        assert.equal((await json(response)).statusCode, status);
      }
    });
  });

  describe('edits', () => {
    it('PATCH an issue links temporary files once, through attachmentIds or descriptionAttachmentIds', async () => {
      const issue = await newIssue();
      const a = await temp(ivan, 'a.txt');
      const b = await temp(ivan, 'b.txt');
      const response = await send(ivan, 'PATCH', `/v2/issues/${issue.key}`, { summary: 'renamed', attachmentIds: [a.id], descriptionAttachmentIds: [b.id] });
      assert.equal(response.status, 200);
      const patched = await json(response);
      assert.equal(patched.summary, 'renamed');
      assert.deepEqual(patched.attachments.map((r: any) => r.id), [a.id, b.id]);
      assert.equal((await send(ivan, 'PATCH', `/v2/issues/${issue.key}`, { attachmentIds: [a.id] })).status, 422);
      assert.equal((await send(maria, 'PATCH', `/v2/issues/${issue.key}`, { attachmentIds: [(await temp(ivan, 'c.txt')).id] })).status, 422);
    });

    it('PATCH a comment links temporary files with 200 and the comment', async () => {
      const issue = await newIssue();
      const comment = await json(await send(ivan, 'POST', `/v2/issues/${issue.key}/comments`, { text: 'first' }));
      const file = await temp(ivan, 'late.txt');
      const response = await send(ivan, 'PATCH', `/v2/issues/${issue.key}/comments/${comment.id}`, { text: 'edited', attachmentIds: [file.id] });
      assert.equal(response.status, 200);
      const edited = await json(response);
      assert.equal(edited.text, 'edited');
      assert.deepEqual(edited.attachments.map((r: any) => r.id), [file.id]);
      const listed = await json(await api(ivan, `/v2/issues/${issue.key}/attachments`));
      assert.equal(listed[0].commentId, comment.longId);
      assert.equal((await json(await api(ivan, new URL(comment.self).pathname))).text, 'edited');
      assert.equal((await send(ivan, 'PATCH', `/v2/issues/${issue.key}/comments/999999`, { text: 'x' })).status, 404);
    });
  });

  describe('imports', () => {
    it('keeps the given author and time, on the issue and on a comment', async () => {
      const issue = await newIssue();
      const createdAt = '2019-03-04T05:06:07.890+0000';
      const response = await api(ivan, `/v2/issues/${issue.key}/attachments/_import?filename=old.txt&createdAt=${encodeURIComponent(createdAt)}&createdBy=maria`, {
        method: 'POST',
        body: fileForm('history'),
      });
      assert.equal(response.status, 201);
      const imported = await json(response);
      assert.equal(imported.createdAt, createdAt);
      assert.equal(imported.createdBy.display, 'Maria');
      assert.equal(imported.name, 'old.txt');

      const comment = await json(await send(ivan, 'POST', `/v2/issues/${issue.key}/comments`, { text: 'c' }));
      const onComment = await json(
        await api(ivan, `/v2/issues/${issue.key}/comments/${comment.id}/attachments/_import?filename=c.txt&createdAt=2020-01-01T00:00:00.000%2B0000&createdBy=${maria.userId}`, {
          method: 'POST',
          body: fileForm('on comment'),
        }),
      );
      assert.equal(onComment.commentId, comment.longId);
      assert.equal(onComment.createdAt, '2020-01-01T00:00:00.000+0000');
    });

    it('refuses a name over 255 characters, a bad date and an unknown author with 422', async () => {
      const issue = await newIssue();
      for (const query of [`filename=${'x'.repeat(256)}`, 'filename=a.txt&createdAt=yesterday', 'filename=a.txt&createdBy=nobody']) {
        const response = await api(ivan, `/v2/issues/${issue.key}/attachments/_import?${query}`, { method: 'POST', body: fileForm('x') });
        assert.equal(response.status, 422, query);
      }
      assert.deepEqual((await affix.storedFiles()).staging, []);
    });

    it('accepts the Ruby client’s upload straight to a comment', async () => {
      const issue = await newIssue();
      const comment = await json(await send(ivan, 'POST', `/v2/issues/${issue.key}/comments`, { text: 'c' }));
      const form = fileForm('ruby', 'ruby.txt');
      form.append('extra', 'field the Ruby client adds');
      const response = await api(ivan, `/v2/issues/${issue.key}/comments/${comment.id}/attachments`, { method: 'POST', body: form });
      assert.equal(response.status, 201);
      assert.equal((await json(response)).commentId, comment.longId);
    });
  });

  describe('pagination', () => {
    it('pages add up to the whole list, with X-Total-Count, X-Total-Pages and Link rel="next"', async () => {
      const issue = await newIssue();
      for (let i = 0; i < 7; i++) {
        await api(ivan, `/v2/issues/${issue.key}/attachments?filename=f${i}.txt`, { method: 'POST', body: fileForm(`file ${i}`) });
      }
      const whole = await api(ivan, `/v2/issues/${issue.key}/attachments`);
      assert.equal(whole.headers.get('x-total-count'), null, 'no parameters: the whole list, as before');
      const all = (await json(whole)).map((a: any) => a.id);
      assert.equal(all.length, 7);

      const seen: string[] = [];
      let next: string | null = `/v2/issues/${issue.key}/attachments/?perPage=3`;
      let pages = 0;
      while (next) {
        const response = await api(ivan, next.replace(affix.url, ''));
        assert.equal(response.headers.get('x-total-count'), '7');
        assert.equal(response.headers.get('x-total-pages'), '3');
        seen.push(...(await json(response)).map((a: any) => a.id));
        const link = response.headers.get('link');
        next = link ? /^<([^>]+)>; rel="next"$/.exec(link)![1]! : null;
        pages++;
      }
      assert.equal(pages, 3);
      assert.deepEqual(seen, all);
      assert.equal((await json(await api(ivan, `/v2/issues/${issue.key}/attachments?page=2`))).length, 0, 'default perPage 50');
      for (const bad of ['perPage=0', 'perPage=1001', 'page=0', 'perPage=x']) {
        assert.equal((await api(ivan, `/v2/issues/${issue.key}/attachments?${bad}`)).status, 400, bad);
      }
      const comments = await api(ivan, `/v2/issues/${issue.key}/comments?perPage=1`);
      assert.equal(comments.headers.get('x-total-count'), '0');
    });
  });
});
