import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AffixError } from '../../src/core/errors.js';
import { hashSecret } from '../../src/core/ids.js';
import type { MetaStore, NewAttachment } from '../../src/store/meta/meta-store.js';

/** The MetaStore contract, one test per guarantee in meta-store.ts; every backend runs it. */
export function metaStoreConformance(name: string, open: () => Promise<MetaStore>): void {
  describe(`MetaStore conformance: ${name}`, () => {
    let seq = 0;
    const fixture = async () => {
      const store = await open();
      const n = ++seq;
      const org = await store.ensureOrg(`org-${n}`, `Org ${n}`, 1000);
      const otherOrg = await store.ensureOrg(`other-${n}`, `Other ${n}`, 1000);
      const mkUser = (orgId: number, login: string) =>
        store.createUser({
          orgId,
          login,
          display: login,
          email: `${login}@x.test`,
          cloudUid: 'cloud',
          passportUid: 42,
          tokenHash: hashSecret(`${login}-${n}-${orgId}`),
          apiKeyHash: hashSecret(`key-${login}-${n}-${orgId}`),
          createdAt: 1000,
        });
      const user = await mkUser(org.id, 'ivan');
      const outsider = await mkUser(otherOrg.id, 'eve');
      const attachment = (over: Partial<NewAttachment> = {}): NewAttachment => ({
        orgId: org.id,
        ownerId: user.id,
        name: 'a.txt',
        mimetype: 'text/plain',
        size: 3,
        width: null,
        height: null,
        sha256: `sha-${n}-${Math.random()}`,
        storageKey: `${Math.random().toString(16).slice(2).padEnd(32, '0').slice(0, 32)}`,
        createdAt: 2000,
        expiresAt: null,
        issueId: null,
        commentId: null,
        pathId: `${n}/ab/${Math.random().toString(36).slice(2)}/a.txt`,
        entityId: null,
        ...over,
      });
      const noClaim = { ownerId: user.id, ids: [], now: 3000 };
      return { store, org, otherOrg, user, outsider, attachment, noClaim };
    };

    it('ensureOrg is idempotent; users are found by token hash with their org', async () => {
      const { store, org, user } = await fixture();
      assert.equal((await store.ensureOrg(org.extId, 'again', 5)).id, org.id);
      const found = await store.findUserByTokenHash(hashSecret(`ivan-${seq}-${org.id}`));
      assert.equal(found?.user.id, user.id);
      assert.equal(found?.org.extId, org.extId);
      assert.equal(await store.findUserByTokenHash(hashSecret('nobody')), null);
    });

    it('scopes every read and write to the org', async () => {
      const { store, org, otherOrg, user, attachment, noClaim } = await fixture();
      const issue = await store.createIssue({ orgId: org.id, queueKey: 'Q', summary: 's', description: null, createdBy: user.id, createdAt: 1, claim: noClaim });
      const { attachment: a } = await store.insertAttachment(attachment({ issueId: issue.id }));
      assert.equal(await store.findIssue(otherOrg.id, issue.key), null);
      assert.equal(await store.findIssue(otherOrg.id, issue.id), null);
      assert.equal(await store.getAttachment(otherOrg.id, a.id), null);
      assert.deepEqual(await store.listIssueAttachments(otherOrg.id, issue.id), []);
      assert.equal(await store.getUser(otherOrg.id, user.id), null);
      assert.equal((await store.deleteAttachment(otherOrg.id, a.id)).count, 0);
      assert.ok(await store.getAttachment(org.id, a.id), 'untouched by the other org');
    });

    it('keeps an image’s dimensions and leaves them null for other files', async () => {
      const { store, org, attachment } = await fixture();
      const { attachment: image } = await store.insertAttachment(attachment({ mimetype: 'image/png', width: 640, height: 480 }));
      const { attachment: text } = await store.insertAttachment(attachment());
      assert.deepEqual([image.width, image.height], [640, 480]);
      assert.deepEqual((await store.getAttachment(org.id, text.id))?.width, null);
    });

    it('numbers issues per queue and finds them by key (any case) or id', async () => {
      const { store, org, user, noClaim } = await fixture();
      const first = await store.createIssue({ orgId: org.id, queueKey: 'JUNE', summary: 'one', description: null, createdBy: user.id, createdAt: 1, claim: noClaim });
      const second = await store.createIssue({ orgId: org.id, queueKey: 'JUNE', summary: 'two', description: 'd', createdBy: user.id, createdAt: 2, claim: noClaim });
      assert.equal(first.key, 'JUNE-1');
      assert.equal(second.key, 'JUNE-2');
      assert.equal((await store.findIssue(org.id, 'june-2'))?.id, second.id);
      assert.equal((await store.findIssue(org.id, second.id))?.summary, 'two');
    });

    it('keeps one blob row per sha256 whose ref_count follows its attachments, releasing the key once', async () => {
      const { store, attachment } = await fixture();
      const sha256 = `shared-${seq}`;
      const first = await store.insertAttachment(attachment({ sha256, storageKey: 'a'.repeat(32) }));
      const second = await store.insertAttachment(attachment({ sha256, storageKey: 'b'.repeat(32) }));
      assert.equal(first.duplicateKey, null);
      assert.equal(second.duplicateKey, 'b'.repeat(32), 'the second copy is to be deleted by the caller');
      assert.equal(second.attachment.storageKey, 'a'.repeat(32));
      assert.deepEqual([...(await store.knownBlobKeys(['a'.repeat(32), 'b'.repeat(32)]))], ['a'.repeat(32)]);
      assert.deepEqual((await store.deleteAttachment(first.attachment.orgId, first.attachment.id)).releasedKeys, []);
      assert.deepEqual((await store.deleteAttachment(second.attachment.orgId, second.attachment.id)).releasedKeys, ['a'.repeat(32)]);
      assert.deepEqual((await store.deleteAttachment(second.attachment.orgId, second.attachment.id)).releasedKeys, []);
      assert.equal((await store.knownBlobKeys(['a'.repeat(32)])).size, 0);
    });

    it('claims a temporary upload once, only by its owner, before expiry, atomically with the new record', async () => {
      const { store, org, user, outsider, attachment } = await fixture();
      const { attachment: temp } = await store.insertAttachment(attachment({ expiresAt: 10_000 }));
      const { attachment: expired } = await store.insertAttachment(attachment({ expiresAt: 2_500 }));
      const issue = (ids: number[], ownerId = user.id) =>
        store.createIssue({ orgId: org.id, queueKey: 'CLM', summary: 's', description: null, createdBy: user.id, createdAt: 3000, claim: { ownerId, ids, now: 3000 } });

      await assert.rejects(issue([temp.id], outsider.id), (e: AffixError) => e.code === 'unprocessable');
      await assert.rejects(issue([expired.id]), (e: AffixError) => e.code === 'unprocessable' && /expired/.test(e.message));
      await assert.rejects(issue([temp.id, 999_999]), (e: AffixError) => e.code === 'unprocessable');
      assert.equal(await store.findIssue(org.id, 'CLM-1'), null, 'no issue was left by the failed claims');
      assert.equal((await store.getAttachment(org.id, temp.id))?.expiresAt, 10_000, 'still temporary');

      const created = await issue([temp.id, temp.id]);
      const claimed = await store.getAttachment(org.id, temp.id);
      assert.equal(claimed?.issueId, created.id);
      assert.equal(claimed?.expiresAt, null);
      await assert.rejects(issue([temp.id]), (e: AffixError) => /already attached/.test(e.message));

      const comment = await store.createComment({ orgId: org.id, issueId: created.id, text: 't', createdBy: user.id, createdAt: 3000, claim: { ownerId: user.id, ids: [], now: 3000 } });
      assert.deepEqual((await store.listComments(org.id, created.id)).map((c) => c.id), [comment.id]);
    });

    it('never lets concurrent uploads add up past the quota', async () => {
      const { store, org, attachment } = await fixture();
      const results = await Promise.allSettled(
        Array.from({ length: 12 }, () => store.insertAttachment(attachment({ size: 300 }), { quotaBytes: 1000 })),
      );
      const stored = results.filter((r) => r.status === 'fulfilled').length;
      assert.equal(stored, 3, 'exactly three 300-byte files fit in 1000 bytes');
      for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as AffixError).code, 'quota_exceeded');
      assert.equal(await store.uploadSpaceUsed(org.id), 900);
    });

    it('lets exactly one of several concurrent claims of a temporary upload succeed', async () => {
      const { store, org, user, attachment } = await fixture();
      const { attachment: temp } = await store.insertAttachment(attachment({ expiresAt: 10_000 }));
      const claim = { ownerId: user.id, ids: [temp.id], now: 3000 };
      const results = await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) =>
          store.createIssue({ orgId: org.id, queueKey: 'RACE', summary: `s${i}`, description: null, createdBy: user.id, createdAt: 3000, claim }),
        ),
      );
      const created = results.filter((r) => r.status === 'fulfilled');
      assert.equal(created.length, 1);
      const winner = (created[0] as PromiseFulfilledResult<{ id: string }>).value;
      assert.equal((await store.getAttachment(org.id, temp.id))?.issueId, winner.id);
      for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as AffixError).code, 'unprocessable');
    });

    it('numbers concurrently created entities without gaps or duplicates', async () => {
      const { store, org, user } = await fixture();
      const entities = await Promise.all(
        Array.from({ length: 8 }, (_, i) => store.createEntity({ orgId: org.id, type: 'project', summary: `p${i}`, createdBy: user.id, createdAt: 1000 })),
      );
      assert.deepEqual(entities.map((e) => e.shortId).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8]);
    });

    it('keeps ref_count exact when identical bytes are stored and deleted concurrently', async () => {
      const { store, org, attachment } = await fixture();
      const sha256 = `concurrent-${seq}`;
      const key = (i: number) => i.toString(16).padStart(32, '0');
      const first = await Promise.all([0, 1, 2, 3].map((i) => store.insertAttachment(attachment({ sha256, storageKey: key(i) }))));
      const keys = new Set(first.map((r) => r.attachment.storageKey));
      assert.equal(keys.size, 1, 'one blob for identical bytes');
      const [kept] = keys;
      // Delete three while four more arrive: the blob must survive with exactly five references.
      const [deleted, added] = await Promise.all([
        Promise.all(first.slice(1).map((r) => store.deleteAttachment(org.id, r.attachment.id))),
        Promise.all([4, 5, 6, 7].map((i) => store.insertAttachment(attachment({ sha256, storageKey: key(i) })))),
      ]);
      assert.deepEqual(deleted.flatMap((d) => d.releasedKeys), []);
      assert.ok(added.every((r) => r.attachment.storageKey === kept));
      const all = [first[0]!, ...added];
      const released = await Promise.all(all.map((r) => store.deleteAttachment(org.id, r.attachment.id)));
      assert.deepEqual(released.flatMap((d) => d.releasedKeys), [kept], 'released once, by the last delete');
    });

    it('deleteExpired removes only expired temporary uploads, in batches, releasing their blobs', async () => {
      const { store, org, attachment } = await fixture();
      const expired = await Promise.all([1, 2, 3].map(() => store.insertAttachment(attachment({ expiresAt: 5_000 }))));
      const fresh = await store.insertAttachment(attachment({ expiresAt: 50_000 }));
      const permanent = await store.insertAttachment(attachment());
      const firstBatch = await store.deleteExpired(6_000, 2);
      const secondBatch = await store.deleteExpired(6_000, 2);
      assert.equal(firstBatch.count + secondBatch.count, 3);
      assert.equal(firstBatch.releasedKeys.length + secondBatch.releasedKeys.length, 3);
      assert.equal((await store.deleteExpired(6_000, 2)).count, 0);
      for (const { attachment: a } of expired) assert.equal(await store.getAttachment(org.id, a.id), null);
      assert.ok(await store.getAttachment(org.id, fresh.attachment.id));
      assert.ok(await store.getAttachment(org.id, permanent.attachment.id));
    });

    it('shows an upload linked only by direct messages to their participants, lets only who sees it claim it, and frees it with its last message', async () => {
      const { store, org, otherOrg, user, attachment } = await fixture();
      const mk = (login: string) =>
        store.createUser({ orgId: org.id, login, display: login, email: `${login}@X.test`, cloudUid: 'c', passportUid: 1, tokenHash: hashSecret(`${login}-${seq}`), apiKeyHash: hashSecret(`k-${login}-${seq}`), createdAt: 1 });
      const [hamlet, othello] = [await mk('hamlet'), await mk('othello')];
      assert.deepEqual((await store.findUsers(org.id, ['HAMLET@x.test', String(othello.id), 'nobody@x.test'])).map((u) => u.id).sort(), [hamlet.id, othello.id].sort());
      assert.deepEqual(await store.findUsers(otherOrg.id, [String(hamlet.id)]), []);
      const { attachment: file } = await store.insertAttachment(attachment({ expiresAt: 9_000 }));
      const message = (senderId: number, type: 'stream' | 'private', linked: string[], participantIds: number[] = []) =>
        store.createMessage({ orgId: org.id, senderId, type, channel: type === 'stream' ? 'general' : null, recipients: [], topic: type === 'stream' ? 't' : null, content: 'x', dateSent: 5, linkedPathIds: linked, participantIds });
      const dm = await message(user.id, 'private', [file.pathId], [hamlet.id]);
      assert.equal((await store.getAttachment(org.id, file.id))?.expiresAt, null, 'claimed: no longer temporary');
      const sees = (u: number) => store.canSeeLinkedUpload(org.id, file.id, u);
      assert.deepEqual([await sees(user.id), await sees(hamlet.id), await sees(othello.id)], [true, true, false]);
      assert.equal(await store.canSeeLinkedUpload(otherOrg.id, file.id, hamlet.id), false);
      await message(othello.id, 'stream', [file.pathId]);
      assert.equal(await sees(othello.id), false, 'a guessed path claims nothing');
      const forwarded = await message(hamlet.id, 'stream', [file.pathId]);
      assert.equal(await sees(othello.id), true, 'a participant may share it');
      const edited = await store.updateMessage(org.id, dm.id, 'no link', [], 6);
      assert.deepEqual(edited.detached, [], 'still linked by the forward');
      assert.equal(await store.deleteMessage(org.id, forwarded.id, 77_000), true);
      assert.equal(await store.deleteMessage(org.id, forwarded.id, 77_000), false);
      assert.equal((await store.getAttachment(org.id, file.id))?.expiresAt, 77_000, 'no message links it: temporary again');
      const again = await message(user.id, 'stream', [file.pathId]);
      const { detached } = await store.updateMessage(org.id, again.id, 'gone', [], 7);
      assert.deepEqual(detached.map((a) => a.id), [file.id], 'the sender’s upload no message links any more');
    });

    it('keeps resumable uploads: reservations within the quota under concurrency, segments only at the offset, one lock holder, expiry', async () => {
      const { store, org, otherOrg, user, attachment } = await fixture();
      const upload = (id: string, reserved: number, expiresAt = 50_000) =>
        ({ id, orgId: org.id, ownerId: user.id, length: reserved, partial: false, reserved, metadata: { filename: 'f' }, target: '', createdAt: 1, expiresAt });
      const id = (n: number) => `${seq}`.padStart(4, '0') + `${n}`.padStart(28, '0');
      await store.insertAttachment(attachment({ size: 400 }));
      const tries = await Promise.allSettled([1, 2, 3, 4].map((n) => store.createResumable(upload(id(n), 300), { quotaBytes: 1000 })));
      assert.equal(tries.filter((t) => t.status === 'fulfilled').length, 2, '400 used + 2 x 300 reserved fit 1000; a third would not');
      for (const t of tries) if (t.status === 'rejected') assert.equal((t.reason as AffixError).code, 'quota_exceeded');
      const [first] = tries.filter((t): t is PromiseFulfilledResult<Awaited<ReturnType<typeof store.createResumable>>> => t.status === 'fulfilled').map((t) => t.value);
      assert.equal(await store.getResumable(otherOrg.id, first!.id), null, 'scoped to its org');
      const seg = (start: number, size: number, key: string) => ({ start, size, sha256: 'x', storageKey: key, parts: null });
      const grown = await store.addResumableSegment(org.id, first!.id, seg(0, 100, `k1-${seq}`), { quotaBytes: 1000 });
      assert.equal(grown.offset, 100);
      await assert.rejects(store.addResumableSegment(org.id, first!.id, seg(50, 10, `k2-${seq}`), { quotaBytes: 1000 }), (err: AffixError) => err.code === 'conflict');
      assert.equal((await store.getResumable(org.id, first!.id))!.segments.length, 1, 'a refused segment changes nothing');
      assert.ok((await store.knownBlobKeys([`k1-${seq}`])).has(`k1-${seq}`), 'a segment’s blob is in use');
      // One holder at a time; released after.
      let inside = 0;
      const held = await store.withResumableLock(first!.id, async () => {
        inside++;
        assert.equal(await store.withResumableLock(first!.id, async () => inside++), null, 'a second holder is refused');
        return 'done';
      });
      assert.deepEqual([held, inside], [{ value: 'done' }, 1]);
      assert.deepEqual(await store.withResumableLock(first!.id, async () => 2), { value: 2 });
      // The collector's lock: the same rules, apart from uploads' locks.
      const collecting = await store.withCollectorLock(async () => {
        assert.equal(await store.withCollectorLock(async () => 'second'), null, 'a second collector is refused');
        assert.deepEqual(await store.withResumableLock(first!.id, async () => 'upload'), { value: 'upload' }, 'uploads are not held up');
        return 'ran';
      });
      assert.deepEqual(collecting, { value: 'ran' });
      assert.deepEqual(await store.withCollectorLock(async () => 'again'), { value: 'again' });
      // A deferred length reserves as bytes arrive, and once declared.
      const deferred = await store.createResumable({ ...upload(id(9), 0), length: null }, { quotaBytes: null });
      const grew = await store.addResumableSegment(org.id, deferred.id, seg(0, 40, `k3-${seq}`), { quotaBytes: null });
      assert.equal(grew.reserved, 40);
      assert.equal((await store.setResumableLength(org.id, deferred.id, 90, { quotaBytes: null })).length, 90);
      await assert.rejects(store.setResumableLength(org.id, deferred.id, 95, { quotaBytes: null }));
      // A segment that joins parts records their tags, and the multipart upload it began.
      const multipart = { key: `mp-${seq}`, session: 'session-1', partSize: 50 };
      const joined = await store.addResumableSegment(org.id, first!.id, { ...seg(100, 120, `k4-${seq}`), parts: ['"t1"', '"t2"'] }, { quotaBytes: 1000, multipart });
      assert.deepEqual(joined.multipart, multipart);
      assert.deepEqual(joined.segments.map((s) => s.parts), [null, ['"t1"', '"t2"']]);
      assert.ok((await store.knownBlobKeys([`mp-${seq}`])).has(`mp-${seq}`), 'an unfinished upload’s multipart blob is in use');
      const removed = await store.deleteResumable(org.id, first!.id);
      assert.deepEqual(removed?.segments.map((s) => s.storageKey), [`k1-${seq}`, `k4-${seq}`], 'the upload as it was, for its bytes to go');
      assert.deepEqual(removed?.multipart, multipart);
      assert.equal((await store.knownBlobKeys([`mp-${seq}`, `k1-${seq}`])).size, 0, 'nothing of it is in use');
      assert.equal(await store.deleteResumable(org.id, first!.id), null);
      assert.ok((await store.expiredResumables(60_000, 100)).some((e) => e.id === deferred.id && e.orgId === org.id), 'past its expiry');
      assert.ok(!(await store.expiredResumables(40_000, 100)).some((e) => e.id === deferred.id), 'not before');
      assert.deepEqual([...(await store.knownResumables([deferred.id, first!.id]))], [deferred.id], 'a deleted upload is not known');
    });

    it('records a completed resumable upload with its attachment: partials go, the upload stays without bytes or reservation, once', async () => {
      const { store, org, user, attachment } = await fixture();
      const id = (n: number) => `c${seq}`.padStart(5, '0') + `${n}`.padStart(27, '0');
      const upload = (n: number, partial: boolean) => ({ id: id(n), orgId: org.id, ownerId: user.id, length: 3, partial, reserved: 3, metadata: {}, target: '', createdAt: 1, expiresAt: 50_000 });
      await store.createResumable(upload(1, false), { quotaBytes: null });
      await store.createResumable(upload(2, true), { quotaBytes: null });
      await store.addResumableSegment(org.id, id(1), { start: 0, size: 3, sha256: 'x', storageKey: `seg-${seq}`, parts: ['"t"'] }, { quotaBytes: null, multipart: { key: `mpc-${seq}`, session: 's', partSize: 5 } });
      const final = { ...upload(3, false), reserved: 0 };
      const { attachment: file } = await store.insertAttachment(attachment({ size: 3 }), { quotaBytes: 10, completing: [id(1), id(2)], concatenated: final });
      const done = await store.getResumable(org.id, id(1));
      assert.equal(done?.attachmentId, file.id);
      assert.deepEqual([done?.reserved, done?.segments, done?.multipart], [0, [], null], 'no bytes, no reservation, no multipart upload left to it');
      assert.equal(await store.getResumable(org.id, id(2)), null, 'a partial upload goes whole');
      const recorded = await store.getResumable(org.id, id(3));
      assert.deepEqual([recorded?.attachmentId, recorded?.offset, recorded?.reserved], [file.id, 3, 0], 'the final upload, recorded complete');
      await assert.rejects(store.insertAttachment(attachment({ size: 3 }), { quotaBytes: null, completing: [id(1)] }), (err: AffixError) => err.code === 'conflict', 'completed once');
      assert.equal((await store.knownBlobKeys([`mpc-${seq}`, `seg-${seq}`])).size, 0);
    });
  });
}
