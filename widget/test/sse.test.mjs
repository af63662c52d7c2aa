// The SSE reader against a loopback HTTP server that splits every frame across several writes.
import assert from 'node:assert/strict';
import http from 'node:http';
import {once} from 'node:events';
import {test} from 'node:test';
import {SseParser, readEvents} from '../src/sse.js';

const FRAMES = [
  ': keep-alive\n\n',
  'event: meta\ndata: {"session_id": "s1"}\n\n',
  'event: token\ndata: {"text": "Zero moment "}\n\n',
  'event: token\r\ndata: {"text": "point — é ✓ [1]"}\r\n\r\n',
  'event: token\rdata: {"text": "line\\nbreak"}\r\r',
  'event: done\ndata: {"answer": "Zero moment point — é ✓ [1]",\ndata:  "x": 1}\n\n',
];
const EXPECTED = [
  ['meta', {session_id: 's1'}],
  ['token', {text: 'Zero moment '}],
  ['token', {text: 'point — é ✓ [1]'}],
  ['token', {text: 'line\nbreak'}],
  ['done', {answer: 'Zero moment point — é ✓ [1]', x: 1}],
];

function pieces(frame, size) {
  const bytes = Buffer.from(frame, 'utf8');
  const out = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

async function serve(size) {
  const server = http.createServer(async (_req, res) => {
    res.writeHead(200, {'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache'});
    for (const frame of FRAMES) {
      for (const piece of pieces(frame, size)) {
        res.write(piece);
        await new Promise((resolve) => setTimeout(resolve, 1)); // separate network reads
      }
    }
    res.end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

for (const size of [1, 2, 3, 7]) {
  test(`frames split into ${size}-byte writes arrive whole and in order`, async () => {
    const server = await serve(size);
    try {
      const {port} = server.address();
      const response = await fetch(`http://127.0.0.1:${port}/`);
      const seen = [];
      await readEvents(response, (name, data) => seen.push([name, data]));
      assert.deepEqual(seen, EXPECTED);
    } finally {
      server.close();
    }
  });
}

test('a frame without its blank line is not dispatched until the line comes', () => {
  const parser = new SseParser();
  assert.deepEqual(parser.feed('event: token\ndata: {"text": "a"}\n'), []);
  assert.deepEqual(parser.feed('\n'), [{event: 'token', data: '{"text": "a"}'}]);
});

test('a carriage return at the end of a read waits for a possible line feed', () => {
  const parser = new SseParser();
  assert.deepEqual(parser.feed('data: 1\r'), []);
  assert.deepEqual(parser.feed('\n\r'), []);
  assert.deepEqual(parser.feed('\n'), [{event: 'message', data: '1'}]);
});
