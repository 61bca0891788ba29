// The error of a write a regular file took only part of: such a file takes a whole write or fails, so the disk is full.

export function shortWrite(written: number, total: number): NodeJS.ErrnoException {
  return Object.assign(new Error(`short write: ${written} of ${total} bytes (no space left on the device)`), { code: 'ENOSPC' });
}
