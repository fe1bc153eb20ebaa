// Stages report progress and warnings through this interface; only the CLI decides how
// (and whether) to print. Every line goes through redact() on the way out.

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  debug(msg: string): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, debug() {} };
