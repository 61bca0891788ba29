/**
 * The `path_id`s of the uploads a message links to: `/user_uploads/<realm>/...` relative, or absolute
 * on one of `origins` (this server's own scheme and host), and only in the sender's realm.
 */
export function linkedPathIds(content: string, realmId: number, origins: string[]): string[] {
  const found = new Set<string>();
  const pattern = /(https?:\/\/[^\s/()<>\[\]"']+)?\/user_uploads\/(\d+\/[^\s()<>\[\]"'?#]+)/g;
  for (const match of content.matchAll(pattern)) {
    const [, origin, path] = match as unknown as [string, string | undefined, string];
    if (origin && !origins.includes(origin.toLowerCase())) continue;
    let pathId: string;
    try {
      pathId = path.split('/').map(decodeURIComponent).join('/');
    } catch {
      continue;
    }
    if (pathId.startsWith(`${realmId}/`)) found.add(pathId.replace(/[.,;:!]+$/, ''));
  }
  return [...found];
}
