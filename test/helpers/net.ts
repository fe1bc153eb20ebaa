// Loopback helpers for tests (and the bench) that start real servers: a free port, and
// waiting until something accepts connections on one.

import net from 'node:net';

/** A port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Whether a connection to 127.0.0.1:port is accepted now. */
export function accepts(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/**
 * Waits until 127.0.0.1:port accepts a connection. `failed()` is asked between tries (e.g.
 * "did the server process exit?") and ends the wait with its message.
 */
export async function waitForPort(
  port: number,
  o: { timeoutMs?: number; intervalMs?: number; failed?: () => string | undefined; what?: string } = {},
): Promise<void> {
  const deadline = Date.now() + (o.timeoutMs ?? 5000);
  for (;;) {
    const why = o.failed?.();
    if (why) throw new Error(why);
    if (await accepts(port)) return;
    if (Date.now() > deadline) throw new Error(`${o.what ?? 'server'} did not start listening on port ${port}`);
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 50));
  }
}
