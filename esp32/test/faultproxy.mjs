// A small HTTP proxy between the firmware (in the VM) and a real
// `thermowatt serve`, injecting the faults a device meets in the field.
// Runs in its own process: the VM blocks Node's main thread while it waits
// for an answer. Usage: node faultproxy.mjs <targetPort>; prints "ready <port>".
// Control: POST /__fault {"mode":"500"|"lose"|"pass","count":n}; GET /__stats.
import http from 'node:http';

const target = Number(process.argv[2]);
let mode = 'pass';
let left = 0;
const stats = { forwarded: 0, injected500: 0, lost: 0, upstreamDown: 0, statuses: {} };

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

function forward(req, body) {
  return new Promise((resolve) => {
    const headers = { ...req.headers, host: `127.0.0.1:${target}` };
    const up = http.request({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    up.on('error', () => resolve(null));
    up.end(body);
  });
}

const server = http.createServer(async (req, res) => {
  const body = await readBody(req);
  if (req.url === '/__fault') {
    const f = JSON.parse(body.toString() || '{}');
    mode = f.mode || 'pass';
    left = f.count ?? 0;
    res.end('{}');
    return;
  }
  if (req.url === '/__stats') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(stats));
    return;
  }
  const m = left > 0 ? mode : 'pass';
  if (left > 0) left -= 1;
  if (m === '500') {
    stats.injected500 += 1;
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end('{"error":"injected"}');
    return;
  }
  const r = await forward(req, body);
  if (!r) {
    stats.upstreamDown += 1;
    res.writeHead(502, { 'content-type': 'application/json' });
    res.end('{"error":"upstream down"}');
    return;
  }
  stats.forwarded += 1;
  stats.statuses[r.status] = (stats.statuses[r.status] || 0) + 1;
  if (m === 'lose') {
    // The server committed; its answer never reaches the device, which
    // sees a read that times out. Hold the socket until the client quits.
    stats.lost += 1;
    req.socket.setTimeout(60000, () => req.socket.destroy());
    return;
  }
  const h = { ...r.headers };
  delete h['transfer-encoding'];
  delete h.connection;
  res.writeHead(r.status, h);
  res.end(r.body);
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`ready ${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
