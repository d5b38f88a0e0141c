/**
 * Downloads a Hugging Face hub model (`owner/name`, optionally `owner/name@revision`) into mceval's cache, with plain
 * fetch: the file list from the hub API, each file from `resolve/<revision>/<file>`, resumed from a partial
 * `.incomplete` file with an HTTP Range request, and verified (sha256 for LFS files from X-Linked-ETag, the git
 * blob sha1 from ETag for the others) before it takes its final name. Only the files mceval reads are fetched.
 */
import { createHash } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { UserError, errorMessage } from '../../errors.js';

export interface HubOptions {
  /** Default: $HF_ENDPOINT or https://huggingface.co. */
  readonly endpoint?: string;
  /** Default: $MCEVAL_CACHE or ~/.cache/mceval. */
  readonly cacheDir?: string;
  /** Default: $HF_TOKEN. */
  readonly token?: string;
  readonly onFile?: (file: string, bytes: number) => void;
}

/** Files a model folder needs; weights are the safetensors files (and their index). */
export function isWantedFile(file: string): boolean {
  if (file.includes('/')) return false;
  return (
    file.endsWith('.safetensors') ||
    [
      'config.json',
      'generation_config.json',
      'model.safetensors.index.json',
      'tokenizer.json',
      'tokenizer_config.json',
      // A BERT checkpoint's WordPiece vocabulary, for those without tokenizer.json.
      'vocab.txt',
      'special_tokens_map.json',
      'chat_template.jinja',
    ].includes(file)
  );
}

const HUB_ID = /^([\w.-]+)\/([\w.-]+)(?:@([\w./-]+))?$/;

export function isHubId(spec: string): boolean {
  return HUB_ID.test(spec) && !existsSync(spec);
}

export function hubCacheFolder(spec: string, cacheDir: string): string {
  const [, owner, name, revision] = HUB_ID.exec(spec)!;
  return join(cacheDir, 'models', `${owner}--${name}`, revision ?? 'main');
}

export async function downloadFromHub(spec: string, options: HubOptions = {}): Promise<string> {
  const match = HUB_ID.exec(spec);
  if (match === null) throw new UserError(`"${spec}" is not a hub id: use owner/name or owner/name@revision.`);
  const [, owner, name, revision = 'main'] = match;
  const endpoint = (options.endpoint ?? process.env['HF_ENDPOINT'] ?? 'https://huggingface.co').replace(/\/$/, '');
  const cacheDir = options.cacheDir ?? process.env['MCEVAL_CACHE'] ?? join(homedir(), '.cache', 'mceval');
  const token = options.token ?? process.env['HF_TOKEN'];
  const target = hubCacheFolder(spec, cacheDir);
  const complete = join(target, '.complete');
  if (existsSync(complete)) return target;
  const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  const repo = `${owner}/${name}`;
  const offline = (reason: string) =>
    new UserError(
      `Cannot download ${spec} from ${endpoint} (${reason}): without network, put the model folder (config.json, ` +
        `*.safetensors, tokenizer.json) at ${target}, or pass a local folder to --model.`,
    );

  let files: string[];
  try {
    const response = await fetch(`${endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}`, {
      headers,
    });
    if (response.status === 404)
      throw new UserError(`The hub has no model ${repo} at revision ${revision} (${endpoint}).`);
    if (!response.ok) throw offline(`HTTP ${response.status} listing files`);
    const info = (await response.json()) as { siblings?: { rfilename: string }[] };
    files = (info.siblings ?? []).map((sibling) => sibling.rfilename).filter(isWantedFile);
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw offline(networkReason(error));
  }
  if (!files.includes('config.json'))
    throw new UserError(`${repo}@${revision} has no config.json on ${endpoint}: not a transformers model.`);

  mkdirSync(target, { recursive: true });
  for (const file of files) {
    const url = `${endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${file}`;
    try {
      await downloadFile(url, join(target, file), headers);
    } catch (error) {
      if (error instanceof UserError) throw error;
      throw offline(`${file}: ${networkReason(error)}`);
    }
    options.onFile?.(file, statSync(join(target, file)).size);
  }
  writeFileSync(complete, `${new Date().toISOString()}\n`);
  return target;
}

function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? errorMessage(error);
}

/**
 * Streams one file to disk, resuming a partial download, and verifies it — against `sha256` when the caller knows
 * it, else against the digest the server announces — before renaming it into place.
 */
export async function downloadFile(
  url: string,
  path: string,
  headers: Record<string, string>,
  sha256?: string,
): Promise<void> {
  if (existsSync(path)) return;
  const partial = `${path}.incomplete`;
  const have = existsSync(partial) ? statSync(partial).size : 0;
  const response = await fetch(url, { headers: have > 0 ? { ...headers, range: `bytes=${have}-` } : headers });
  if (!response.ok || response.body === null) throw new Error(`HTTP ${response.status}`);
  // 206: the server honoured the range, so append; 200: it sent the whole file, so start over.
  const flags = response.status === 206 ? 'a' : 'w';
  await pipeline(Readable.fromWeb(response.body as NodeReadableStream), createWriteStream(partial, { flags }));
  const expected: Digest | undefined =
    sha256 !== undefined ? { algorithm: 'sha256', value: sha256 } : expectedDigest(response.headers);
  if (expected !== undefined && (await fileDigest(partial, expected.algorithm)) !== expected.value) {
    rmSync(partial);
    throw new UserError(
      `Checksum mismatch for ${url}: expected ${expected.algorithm} ${expected.value}; the partial file was removed, run again.`,
    );
  }
  renameSync(partial, path);
}

interface Digest {
  readonly algorithm: 'sha256' | 'git-sha1';
  readonly value: string;
}

/** LFS files carry their sha256 in X-Linked-ETag; regular files their git blob sha1 in ETag. */
export function expectedDigest(headers: Headers): Digest | undefined {
  const clean = (value: string | null) => value?.replace(/^W\//, '').replace(/"/g, '').toLowerCase();
  const linked = clean(headers.get('x-linked-etag'));
  if (linked !== undefined && /^[0-9a-f]{64}$/.test(linked)) return { algorithm: 'sha256', value: linked };
  const etag = clean(headers.get('etag'));
  if (etag !== undefined && /^[0-9a-f]{40}$/.test(etag)) return { algorithm: 'git-sha1', value: etag };
  return undefined;
}

/** sha256 of the file, or its git blob id (sha1 of "blob <size>\0" + contents), read as a stream. */
export async function fileDigest(path: string, algorithm: Digest['algorithm']): Promise<string> {
  const hash = createHash(algorithm === 'sha256' ? 'sha256' : 'sha1');
  if (algorithm === 'git-sha1') hash.update(`blob ${statSync(path).size}\0`);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
