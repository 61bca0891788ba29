// An issue's files, its comments' grouped under them, and uploads to the issue, to a new comment with text, or as temporary files.
import { useRef, useState } from 'preact/hooks';
import { useRoute } from 'preact-iso';
import { api, type FileJson } from '../api';
import { FileGrid } from '../components/file-grid';
import { Uploader } from '../components/uploader';
import { formatDate } from '../format';
import { useLoad } from '../use-load';

type Target = 'issue' | 'comment' | 'temporary';

export function IssuePage() {
  const { params } = useRoute();
  const key = params.key!;
  const issue = useLoad(() => api.issue(key), [key]);
  const files = useLoad(() => api.issueFiles(key), [key]);
  const comments = useLoad(() => api.comments(key), [key]);
  const [target, setTarget] = useState<Target>('issue');
  const [temporaries, setTemporaries] = useState<FileJson[]>([]);
  const [posted, setPosted] = useState<string | null>(null);
  const commentText = useRef<HTMLTextAreaElement>(null);
  const targetRef = useRef(target);
  targetRef.current = target;

  if (issue.error) return <p role="alert" class="error">{issue.error}</p>;
  if (!issue.data) return <p aria-busy="true">Loading…</p>;
  const own = (files.data ?? []).filter((f) => !f.commentId);
  const byComment = (comments.data ?? []).map((c) => ({ comment: c, files: (files.data ?? []).filter((f) => f.commentId === c.longId) }));
  const remove = async (file: FileJson) => {
    await api.deleteIssueFile(key, file.id);
    await files.reload();
  };

  return (
    <article>
      <h1>
        <span class="key">{issue.data.key}</span> {issue.data.summary}
      </h1>
      <p class="detail">
        {issue.data.createdBy.display} · <time dateTime={issue.data.createdAt}>{formatDate(issue.data.createdAt)}</time>
      </p>
      <Uploader
        endpoint="/v2/tus/"
        target={(): Record<string, string> => (targetRef.current === 'issue' ? { issue: key } : {})}
        onUploaded={(answer) => {
          if (targetRef.current === 'issue') void files.reload();
          if (targetRef.current === 'temporary') setTemporaries((t) => [...t, answer as FileJson]);
        }}
        onAllDone={async (answers) => {
          if (targetRef.current !== 'comment') return;
          const ids = (answers as FileJson[]).map((a) => a.id);
          const comment = await api.createComment(key, commentText.current?.value.trim() || 'Files', ids);
          if (commentText.current) commentText.current.value = '';
          setPosted(`Comment ${comment.id} posted with ${ids.length} file${ids.length === 1 ? '' : 's'}.`);
          await Promise.all([files.reload(), comments.reload()]);
        }}
      >
        <fieldset class="targets">
          <legend>Upload to</legend>
          {(
            [
              ['issue', 'This issue'],
              ['comment', 'A new comment'],
              ['temporary', 'Temporary files'],
            ] as Array<[Target, string]>
          ).map(([value, label]) => (
            <label key={value}>
              <input type="radio" name="target" value={value} checked={target === value} onChange={() => setTarget(value)} />
              {label}
            </label>
          ))}
        </fieldset>
        {target === 'comment' && (
          <label class="comment-text">
            Comment
            <textarea ref={commentText} rows={2} placeholder="Posted with the files once they are all uploaded" />
          </label>
        )}
      </Uploader>
      {posted && <p role="status">{posted}</p>}
      {temporaries.length > 0 && (
        <section aria-labelledby="temporaries">
          <h2 id="temporaries">Temporary files</h2>
          <p class="hint">Attach them anywhere with these ids in `attachmentIds`; unattached ones expire.</p>
          <ul class="plain">
            {temporaries.map((t) => (
              <li key={t.id}>
                <code>{t.id}</code> {t.name}
              </li>
            ))}
          </ul>
        </section>
      )}
      {files.error && <p role="alert" class="error">{files.error}</p>}
      <h2>Files</h2>
      {files.data && own.length === 0 && <p>No files on the issue itself yet.</p>}
      <FileGrid files={own} label="Files" onDelete={remove} />
      {byComment
        .filter((c) => c.files.length > 0 || c.comment.text)
        .map(({ comment, files: commentFiles }) => (
          <section key={comment.id} class="comment" aria-labelledby={`comment-${comment.id}`}>
            <h3 id={`comment-${comment.id}`}>
              Comment {comment.id} · {comment.createdBy.display} · <time dateTime={comment.createdAt}>{formatDate(comment.createdAt)}</time>
            </h3>
            {comment.text && <p class="comment-body">{comment.text}</p>}
            <FileGrid files={commentFiles} label={`Files of comment ${comment.id}`} onDelete={remove} />
          </section>
        ))}
    </article>
  );
}
