/**
 * Hub downloads against a local HTTP server that serves the hub's URL layout (/api/models/<repo>/revision/<rev>,
 * /<repo>/resolve/<rev>/<file>) with the hub's checksum headers and Range support. Nothing leaves this machine.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { downloadFromHub, hubCacheFolder, isWantedFile } from '../src/models/hub/download.js';

const FILES: Record<string, Buffer> = {
  'config.json': Buffer.from('{"model_type":"llama"}'),
  'tokenizer.json': Buffer.from('{"model":{}}'),
  'model.safetensors': Buffer.alloc(5000, 7),
  'README.md': Buffer.from('# not downloaded'),
};
const LFS = new Set(['model.safetensors']);

let server: Server;
let endpoint: string;
const requests: { url: string; range?: string }[] = [];
let corrupt = false;

before(async () => {
  server = createServer((request, response) => {
    const url = request.url ?? '';
    requests.push({ url, ...(request.headers.range ? { range: request.headers.range } : {}) });
    if (url === '/api/models/acme/tiny/revision/main') {
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ sha: 'abc', siblings: Object.keys(FILES).map((rfilename) => ({ rfilename })) }));
      return;
    }
    const match = /^\/acme\/tiny\/resolve\/main\/(.+)$/.exec(url);
    const body = match ? FILES[match[1]!] : undefined;
    if (body === undefined) {
      response.statusCode = 404;
      response.end();
      return;
    }
    const name = match![1]!;
    if (LFS.has(name)) response.setHeader('x-linked-etag', `"${createHash('sha256').update(body).digest('hex')}"`);
    else
      response.setHeader('etag', `"${createHash('sha1').update(`blob ${body.length}\0`).update(body).digest('hex')}"`);
    const sent = corrupt ? Buffer.alloc(body.length, 1) : body;
    const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? '');
    if (range) {
      response.statusCode = 206;
      response.end(sent.subarray(Number(range[1])));
    } else {
      response.end(sent);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

function cache(): string {
  return mkdtempSync(join(tmpdir(), 'mceval-hub-'));
}

test('only the files a model folder needs are fetched', () => {
  assert.ok(isWantedFile('model-00001-of-00002.safetensors'));
  assert.ok(isWantedFile('tokenizer_config.json'));
  assert.ok(!isWantedFile('README.md'));
  assert.ok(!isWantedFile('pytorch_model.bin'));
  assert.ok(!isWantedFile('onnx/model.safetensors'));
});

test('a download fetches, verifies and caches the model folder; a second call reads the cache', async () => {
  const cacheDir = cache();
  try {
    requests.length = 0;
    const folder = await downloadFromHub('acme/tiny', { endpoint, cacheDir });
    assert.equal(folder, hubCacheFolder('acme/tiny', cacheDir));
    for (const file of ['config.json', 'tokenizer.json', 'model.safetensors'])
      assert.deepEqual(readFileSync(join(folder, file)), FILES[file]);
    assert.ok(!existsSync(join(folder, 'README.md')));
    const fetched = requests.length;
    await downloadFromHub('acme/tiny', { endpoint, cacheDir });
    assert.equal(requests.length, fetched, 'a completed download is not fetched again');
  } finally {
    rmSync(cacheDir, { recursive: true });
  }
});

test('a partial file is resumed with a Range request', async () => {
  const cacheDir = cache();
  try {
    const folder = hubCacheFolder('acme/tiny', cacheDir);
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'model.safetensors.incomplete'), FILES['model.safetensors']!.subarray(0, 1234));
    requests.length = 0;
    await downloadFromHub('acme/tiny', { endpoint, cacheDir });
    assert.deepEqual(readFileSync(join(folder, 'model.safetensors')), FILES['model.safetensors']);
    assert.ok(requests.some((r) => r.url.endsWith('/model.safetensors') && r.range === 'bytes=1234-'));
  } finally {
    rmSync(cacheDir, { recursive: true });
  }
});

test('a corrupted transfer fails its checksum and leaves no file behind', async () => {
  const cacheDir = cache();
  corrupt = true;
  try {
    await assert.rejects(
      downloadFromHub('acme/tiny', { endpoint, cacheDir }),
      /^UserError: Checksum mismatch for .*config\.json: expected git-sha1 [0-9a-f]{40}/,
    );
    const folder = hubCacheFolder('acme/tiny', cacheDir);
    assert.ok(!existsSync(join(folder, 'config.json')));
    assert.ok(!existsSync(join(folder, 'config.json.incomplete')));
    assert.ok(!existsSync(join(folder, '.complete')));
  } finally {
    corrupt = false;
    rmSync(cacheDir, { recursive: true });
  }
});

test('offline, the error says where to put the files; an unknown repo says so', async () => {
  const cacheDir = cache();
  // A port that was just free: nothing listens there, so the connection is refused at once.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const deadEndpoint = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  try {
    await assert.rejects(downloadFromHub('acme/tiny', { endpoint: deadEndpoint, cacheDir }), (error: Error) => {
      assert.match(
        error.message,
        /^Cannot download acme\/tiny from http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\): without network, put the model folder .* at .*acme--tiny.main, or pass a local folder to --model\.$/,
      );
      assert.equal(error.message.split('\n').length, 1);
      return true;
    });
    await assert.rejects(
      downloadFromHub('acme/missing', { endpoint, cacheDir }),
      /The hub has no model acme\/missing at revision main/,
    );
  } finally {
    rmSync(cacheDir, { recursive: true });
  }
});
