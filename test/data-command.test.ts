/** `mceval data verify` and `mceval data pull` (against a local HTTP server: tests never reach the network). */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { packagePath } from '../src/paths.js';
import { sharedPath } from './shared-fixtures.js';

const data = sharedPath('data');
let server: Server;
let endpoint = '';
let corrupt = false;

before(async () => {
  server = createServer((request, response) => {
    // Paths as on raw.githubusercontent.com: /openai/grade-school-math/<commit>/grade_school_math/data/<file>
    const file = request.url!.split('/').pop()!;
    const source = join(data.path, 'gsm8k', file);
    if (!request.url!.includes('grade-school-math') || !existsSync(source)) {
      response.writeHead(404).end();
      return;
    }
    const body = readFileSync(source);
    response.writeHead(200).end(corrupt ? Buffer.concat([body, Buffer.from('x')]) : body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

after(() => server.close());

const mceval = (args: string[], env: Record<string, string> = {}) =>
  execa(process.execPath, [packagePath('bin', 'run.js'), ...args], { reject: false, env });

test(
  'data verify: present files, checksums and counts; a changed file and a missing one fail',
  { skip: data.skip },
  async () => {
    const ok = await mceval(['data', 'verify', 'rte', '--data', data.path, '--json']);
    assert.equal(ok.exitCode, 0, ok.stderr);
    const [check] = JSON.parse(ok.stdout);
    assert.deepEqual(check.counts, [2490, 277]);
    assert.ok(check.files.every((file: { checksumMatches: boolean }) => file.checksumMatches));
    const dir = mkdtempSync(join(tmpdir(), 'mceval-verify-'));
    try {
      mkdirSync(join(dir, 'rte'));
      copyFileSync(join(data.path, 'rte', 'train.tsv'), join(dir, 'rte', 'train.tsv'));
      const rows = readFileSync(join(data.path, 'rte', 'dev.tsv'), 'utf8').split('\n');
      writeFileSync(join(dir, 'rte', 'dev.tsv'), rows.slice(0, -2).join('\n') + '\n'); // one row fewer
      const bad = await mceval(['data', 'verify', 'rte', '--data', dir]);
      assert.equal(bad.exitCode, 1);
      assert.match(
        bad.stdout,
        /^FAIL rte: 2490 train \/ 276 eval; .* — 2490\/276 records, expected 2490\/277; rte\/dev\.tsv differs from the known copy$/,
      );
      const missing = await mceval(['data', 'verify', 'mrpc', '--data', dir]);
      assert.match(
        missing.stdout,
        /FAIL mrpc: .*missing mrpc\/msr_paraphrase_train\.txt, mrpc\/dev_ids\.tsv, mrpc\/dev\.tsv/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  'data pull: downloads and verifies by sha256; a corrupted download is refused and leaves nothing',
  { skip: data.skip },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mceval-pull-'));
    try {
      corrupt = true;
      const refused = await mceval(['data', 'pull', 'gsm8k', '--data', dir], { MCEVAL_DATA_ENDPOINT: endpoint });
      assert.notEqual(refused.exitCode, 0);
      assert.match(
        refused.stderr,
        /^Error: Checksum mismatch for http:\/\/127\.0\.0\.1:\d+\/openai\/grade-school-math\/.*train\.jsonl/,
      );
      // Not even the folder it made for the file.
      assert.equal(existsSync(join(dir, 'gsm8k')), false);
      corrupt = false;
      const pulled = await mceval(['data', 'pull', 'gsm8k', '--data', dir, '--json'], {
        MCEVAL_DATA_ENDPOINT: endpoint,
      });
      assert.equal(pulled.exitCode, 0, pulled.stderr);
      assert.deepEqual(JSON.parse(pulled.stdout).pulled, ['gsm8k/train.jsonl', 'gsm8k/test.jsonl']);
      const verified = await mceval(['data', 'verify', 'gsm8k', '--data', dir]);
      assert.match(verified.stdout, /^ok {3}gsm8k: 7473 train \/ 1319 eval; 2 files, 2 checksums verified$/);
      // Neither a plain-file download nor a hub export exists for LLM-Adapters' HellaSwag files.
      const unavailable = await mceval(['data', 'pull', 'hellaswag', '--data', dir]);
      assert.match(
        unavailable.stderr,
        /^Error: mceval cannot download hellaswag\/llm-adapters\/train\.json, hellaswag\/llm-adapters\/test\.json for hellaswag: fetch them from the data set's own release/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
