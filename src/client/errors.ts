// The one error the client throws: the status, and the server's message in whichever dialect's body it came.

/**
 * What kind of failure: the server refused (`server`, with its status), it could not be reached
 * (`network`), the caller's own input was wrong (`input`: a missing file), the call was cancelled
 * (`cancelled`), or the bytes received were not the file's (`integrity`).
 */
export type FailureKind = 'server' | 'network' | 'input' | 'cancelled' | 'integrity';

export class AffixClientError extends Error {
  /** The HTTP status; 0 when no answer came. */
  readonly status: number;
  readonly kind: FailureKind;
  /** Zulip's error `code`, when the body had one. */
  readonly code: string | undefined;

  constructor(status: number, message: string, options: { kind?: FailureKind; code?: string } = {}) {
    super(message);
    this.name = 'AffixClientError';
    this.status = status;
    this.kind = options.kind ?? (status > 0 ? 'server' : 'network');
    this.code = options.code;
  }
}

/** The message of any of Affix's error bodies: Tracker's `errorMessages`, Zulip's `msg`. */
export function errorOf(status: number, text: string): AffixClientError {
  try {
    const body = JSON.parse(text) as { errorMessages?: string[]; msg?: string; code?: string };
    if (body.errorMessages?.[0]) return new AffixClientError(status, body.errorMessages[0]);
    if (body.msg) return new AffixClientError(status, body.msg, body.code ? { code: body.code } : {});
  } catch {
    // not JSON
  }
  return new AffixClientError(status, text.trim().slice(0, 300) || `The server answered ${status}`);
}
