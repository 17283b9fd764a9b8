/**
 * A TCP proxy on loopback to a real server (Redis, PostgreSQL) that a test can cut (down: connections
 * reset, nothing listens) or freeze (hung: connections stay open and nothing is answered, the way a
 * server stopped with SIGSTOP or a network that drops packets looks). What a frozen client sends is
 * held and delivered when it thaws, as TCP would: a server never misses part of a conversation.
 * It can also freeze at the moment a client sends a given text (`freezeOn`), and lose the connections
 * open now (`lose`: nothing they send or are sent arrives any more, and no reset comes, while new
 * connections work: a connection a NAT or a firewall forgot, or a server gone in a failover).
 * The machine's own servers are never touched.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import { freePort } from './processes.ts';

export interface TcpProxy {
  port: number;
  up(): Promise<void>;
  down(): Promise<void>;
  freeze(frozen: boolean): void;
  /** Freeze when a client sends `text` (that data is held too); thaw with freeze(false). */
  freezeOn(text: string): void;
  /**
   * The connections open now carry nothing more, either way, and are never reset: one side closing
   * is not seen by the other (which stays open until the test ends); new ones work.
   */
  lose(): void;
  /**
   * What is held (freezeOn) reaches the server, and nothing it answers on the connections open now
   * reaches the client: a commit the server made whose answer was lost.
   */
  deliverAndLose(): void;
  /** Whether it holds what clients send (freeze, or freezeOn met). */
  frozen(): boolean;
}

export async function tcpProxy(t: TestContext, targetPort: number): Promise<TcpProxy> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let frozen = false;
  let freezeOn: string | undefined;
  const lost = new WeakSet<Socket>();
  const held: Array<{ to: Socket; data: Buffer }> = [];
  let server: Server | undefined;
  const up = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const upstream = connect(targetPort, '127.0.0.1');
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('error', () => {});
          s.on('close', () => {
            sockets.delete(s);
            // A lost connection's close does not reach the other side either (a partition carries no
            // FIN or reset): the other end stays open until the test ends.
            if (lost.has(s)) return;
            client.destroy();
            upstream.destroy();
          });
        }
        client.on('data', (data) => {
          if (lost.has(client)) return;
          if (freezeOn !== undefined && data.includes(freezeOn)) {
            frozen = true;
            freezeOn = undefined;
          }
          if (frozen) held.push({ to: upstream, data });
          else upstream.write(data);
        });
        upstream.on('data', (d) => {
          if (!lost.has(client)) client.write(d);
        });
      });
      server.listen(port, '127.0.0.1', resolve);
    });
  const down = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server!.close(() => resolve());
    });
  await up();
  t.after(() => {
    for (const s of sockets) s.destroy();
    server?.close();
  });
  return {
    port,
    up,
    down,
    freeze: (f: boolean) => {
      frozen = f;
      if (f) return;
      for (const { to, data } of held.splice(0)) if (!to.destroyed) to.write(data);
    },
    freezeOn: (text: string) => {
      freezeOn = text;
    },
    lose: () => {
      for (const s of sockets) lost.add(s);
      held.splice(0);
    },
    frozen: () => frozen,
    deliverAndLose: () => {
      for (const s of sockets) lost.add(s);
      frozen = false;
      for (const { to, data } of held.splice(0)) if (!to.destroyed) to.write(data);
    },
  };
}
