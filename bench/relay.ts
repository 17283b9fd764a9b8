/**
 * The bench's floor for any gateway: a raw relay in node:http that forwards each request to the
 * upstream as it is (method, path, headers, body) and streams the answer back, with keep-alive on
 * both sides. It checks nothing and records nothing: what Gatehouse costs beyond it is the cost of
 * the control plane.
 *   node bench/relay.ts --upstream http://127.0.0.1:PORT/mcp   prints {"url": ...} once listening
 */
import { Agent, createServer, request } from 'node:http';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({ options: { upstream: { type: 'string' } } });
if (!opts.upstream) throw new Error('missing `--upstream`');
const upstream = new URL(opts.upstream);
const agent = new Agent({ keepAlive: true, maxSockets: 256 });

const server = createServer((req, res) => {
  const headers = { ...req.headers, host: upstream.host };
  const out = request(
    { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  out.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(out);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}${upstream.pathname}` })}\n`);
});
