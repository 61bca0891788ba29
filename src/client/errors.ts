// The one error the client throws: the status, and the server's message in whichever dialect's body it came.

export class AffixClientError extends Error {
  constructor(
    /** The HTTP status; 0 when no answer came (network, abort). */
    readonly status: number,
    message: string,
    /** Zulip's error `code`, when the body had one. */
    readonly code?: string,
  ) {
    super(message);
    this.name = 'AffixClientError';
  }
}

/** The message of any of Affix's error bodies: Tracker's `errorMessages`, Zulip's `msg`. */
export function errorOf(status: number, text: string): AffixClientError {
  try {
    const body = JSON.parse(text) as { errorMessages?: string[]; msg?: string; code?: string };
    if (body.errorMessages?.[0]) return new AffixClientError(status, body.errorMessages[0]);
    if (body.msg) return new AffixClientError(status, body.msg, body.code);
  } catch {
    // not JSON
  }
  return new AffixClientError(status, text.trim().slice(0, 300) || `The server answered ${status}`);
}
