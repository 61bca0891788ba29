// A file's kind from its MIME type, and the icon cards show for files without a thumbnail.

export type Kind = 'image' | 'video' | 'audio' | 'pdf' | 'text' | 'archive' | 'document' | 'other';

export function kindOf(mimetype: string): Kind {
  const [type] = mimetype.split('/');
  if (type === 'image' || type === 'video' || type === 'audio' || type === 'text') return type;
  if (mimetype === 'application/pdf') return 'pdf';
  if (/zip|gzip|x-tar|7z|rar|bzip|xz|zstd/.test(mimetype)) return 'archive';
  if (/msword|officedocument|opendocument|rtf/.test(mimetype)) return 'document';
  return 'other';
}

const LABELS: Record<Kind, string> = { image: 'IMG', video: 'VID', audio: 'AUD', pdf: 'PDF', text: 'TXT', archive: 'ZIP', document: 'DOC', other: 'FILE' };

/** A document shape with the kind written on it; decorative (the card says the name). */
export function KindIcon({ mimetype }: { mimetype: string }) {
  const kind = kindOf(mimetype);
  return (
    <svg class={`kind kind-${kind}`} viewBox="0 0 48 60" aria-hidden="true">
      <path d="M4 2h28l12 12v44H4z" />
      <path d="M32 2v12h12" class="fold" />
      <text x="24" y="44" text-anchor="middle">
        {LABELS[kind]}
      </text>
    </svg>
  );
}
