// What the core tells whoever watches it (the metrics): events of its own work, with no idea of how they are counted.

export interface Observer {
  /** A thumbnail was made (not served from the store), in `seconds`. */
  thumbnailMade(seconds: number): void;
  /** Making one failed: `reason` is the error's code (`unprocessable`, `timeout`, …). */
  thumbnailFailed(reason: string): void;
}

export const UNOBSERVED: Observer = { thumbnailMade() {}, thumbnailFailed() {} };
