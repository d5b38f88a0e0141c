/**
 * Downloads one split of a hub data set as the hub's parquet conversion publishes it (branch refs/convert/parquet,
 * files <config>/<split>/NNNN.parquet): the shard list from the tree API, each shard from resolve/, verified against
 * the sha256 the listing gives, resumed if interrupted. Shards land in a temporary folder that takes the split's
 * name only when every shard is in, so an interrupted pull never looks like a complete export. $HF_ENDPOINT replaces
 * https://huggingface.co (a mirror, or a local server in tests); $HF_TOKEN is sent when set.
 */
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UserError, errorMessage } from '../errors.js';
import { downloadFile } from '../models/hub/download.js';
import { hubExportPath, type HubSplit } from './hub-export.js';

const PARQUET_BRANCH = encodeURIComponent('refs/convert/parquet');

interface TreeEntry {
  readonly type: string;
  readonly path: string;
  readonly lfs?: { readonly oid?: string };
}

function hubEndpoint(): string {
  return (process.env['HF_ENDPOINT'] ?? 'https://huggingface.co').replace(/\/$/, '');
}

/** Pulls the split into --data unless it is already there; returns the folder it is in. */
export async function pullHubSplit(split: HubSplit, dataDir: string): Promise<string> {
  const target = join(dataDir, hubExportPath(split));
  if (existsSync(target)) return target;
  const endpoint = hubEndpoint();
  const token = process.env['HF_TOKEN'];
  const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  const listing = `${endpoint}/api/datasets/${split.repo}/tree/${PARQUET_BRANCH}/${split.config}/${split.split}`;
  const failed = (reason: string) =>
    new UserError(
      `Could not download ${split.repo} (${split.config}/${split.split}) from ${endpoint} (${reason}): check the ` +
        `network, or export the split yourself to ${target}.parquet (datasets' to_parquet).`,
    );
  let shards: TreeEntry[];
  try {
    const response = await fetch(listing, { headers });
    if (response.status === 404) {
      throw new UserError(
        `The hub has no parquet conversion of ${split.repo} config ${split.config} split ${split.split} (${listing}).`,
      );
    }
    if (!response.ok) throw failed(`HTTP ${response.status} listing the shards`);
    shards = ((await response.json()) as TreeEntry[]).filter(
      (entry) => entry.type === 'file' && entry.path.endsWith('.parquet'),
    );
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw failed(errorMessage(error));
  }
  if (shards.length === 0) throw failed('the listing has no parquet shard');
  const partial = `${target}.incomplete`;
  mkdirSync(partial, { recursive: true });
  for (const shard of shards) {
    const url = `${endpoint}/datasets/${split.repo}/resolve/${PARQUET_BRANCH}/${shard.path}`;
    try {
      await downloadFile(url, join(partial, basename(shard.path)), headers, shard.lfs?.oid);
    } catch (error) {
      if (error instanceof UserError) throw error;
      throw failed(`${shard.path}: ${errorMessage(error)}`);
    }
  }
  mkdirSync(dirname(target), { recursive: true });
  renameSync(partial, target);
  return target;
}
