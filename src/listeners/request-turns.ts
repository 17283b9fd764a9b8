/**
 * The requests of one connection take turns. HTTP/1.1 answers a connection's requests in the order
 * they came, so handling a pipelined request before the one ahead of it is answered gains a client
 * little, and it let one connection have any number of requests in flight: walk K sent 30,000 calls
 * of 230 bytes back to back on one connection without reading, each read its API key from the store
 * at once, and another tenant's calls waited 5-9 s for a store connection, then failed (an unknown
 * key did the same). With turns, what one address has in flight is bounded by the connections it
 * may open (`gateway.maxConnectionsPerAddress`), as the connection caps assume.
 *
 * A connection's next request starts when the one before it has been answered (its response
 * closed); up to QUEUE may wait meanwhile, read and parsed by node but not handled. A connection that
 * sends more is closed, counted and logged: no client that waits for its answers sends that many
 * ahead. A pipelining client that answers a question on the stream of a call it made on the same
 * connection waits for that stream to end first, as its answer would anyway.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { attachment } from '../util/attach.ts';

/** Requests of one connection read while another of its requests is being handled. */
export const QUEUE = 32;

interface Turns {
  busy: boolean;
  waiting: [IncomingMessage, ServerResponse][];
}

const turnsOf = attachment<Turns>('requestTurns');

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * The listener's request handler, taking turns per connection. `overflow` is told of a connection
 * closed for sending more than QUEUE requests ahead of its answers.
 */
export function takingTurns(handle: Handler, overflow: (socket: Socket) => void, queue = QUEUE): Handler {
  const run = (turns: Turns, req: IncomingMessage, res: ServerResponse): void => {
    turns.busy = true;
    res.once('close', () => {
      if (req.socket.destroyed) {
        // Gone with its connection: what waited on it is not handled (node has aborted it).
        turns.waiting = [];
        turns.busy = false;
        return;
      }
      const next = turns.waiting.shift();
      if (next) run(turns, next[0], next[1]);
      else turns.busy = false;
    });
    handle(req, res);
  };
  return (req, res) => {
    const socket = req.socket;
    // The rest of what node had read when the connection was closed still arrives, parsed: dropped.
    if (socket.destroyed) return;
    let turns = turnsOf.get(socket);
    if (!turns) {
      turns = { busy: false, waiting: [] };
      turnsOf.set(socket, turns);
    }
    if (!turns.busy) return run(turns, req, res);
    if (turns.waiting.length >= queue) {
      turns.waiting = [];
      socket.destroy();
      overflow(socket);
      return;
    }
    turns.waiting.push([req, res]);
  };
}
