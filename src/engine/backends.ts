/**
 * Chooses and initialises the tfjs backend: the one place that knows which backends exist and in which order `auto`
 * tries them. Each candidate is detected by actually importing its package and initialising it (a half-installed
 * tfjs-node folder, as `npm ci --ignore-scripts` leaves behind, must not count), and the reason every skipped
 * candidate was skipped is kept for `mceval doctor`.
 */
import { availableParallelism } from 'node:os';
import { tf } from './tf.js';
import { UserError, firstLine } from '../errors.js';
import { registerCustomKernels } from './kernels/register.js';
import { applyReadTimeSettings } from './read-settings.js';
import { shareSavedTensors } from './saved-tensors.js';
import { joinsSetting } from './kernels/webgpu/buffer-copies.js';
import { setupWebGpu, webGpuAdapterReport, webGpuLimitsSetting } from './webgpu.js';
import { attentionLaneSetting, checkAttentionLanes } from './kernels/webgpu/attention-lanes.js';
import { headChunkElements } from './ops/head-cross-entropy.js';
import { groupSetting, inlineNarrowSetting, productTiling } from './kernels/webgpu/low-rank-product.js';
import { fewRowsMost } from './kernels/webgpu/few-rows.js';
import { waitSetting } from './dawn-wait.js';
import { robustnessSetting } from './dawn-flags.js';
import { overlapSetting } from './overlap-setting.js';
import { replaySetting } from './replay-setting.js';
import { generationJoin } from './generation-join.js';
import { poolWindowSetting } from './webgpu-pool.js';
import { activationSetting } from './activation-setting.js';
import { restsSetting } from './rests-setting.js';
import { ropeSetting } from './rope-setting.js';
import { matrixProductSetting } from './kernels/webgpu/matrix-product.js';
import { splitWeightGradients, weightGradientSumsLater } from './kernels/webgpu/weight-gradients.js';
import { attentionGradientSetting } from './kernels/webgpu/causal-attention.js';
import { applyTfjsFlagSettings, checkTfjsFlagSettings } from './kernels/webgpu/tfjs-flags.js';
import { didYouMean } from '../nearest-name.js';
import { applyTuningOnce } from './tuning/apply-tuning.js';

export const BACKEND_REQUESTS = ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const;
export type BackendRequest = (typeof BACKEND_REQUESTS)[number];

/**
 * What to say after an unknown backend that names a GPU the way PyTorch (or lm-eval's --device) does — cuda, cuda:0,
 * gpu, rocm, mps, vulkan, metal — where mceval reaches a GPU only through WebGPU; '' for any other name.
 */
export function gpuBackendHint(value: string): string {
  return /^(cuda|gpu|rocm|hip|mps|metal|vulkan|dawn)(:\d+)?$/i.test(value.trim())
    ? ' A GPU is used through --backend webgpu (Dawn over Vulkan; mceval doctor shows the adapter it finds).'
    : '';
}

export interface BackendCandidate {
  /** What mceval calls it (doctor, --json). */
  readonly id: 'tensorflow-gpu' | 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';
  /** The name the package registers with tfjs. */
  readonly tfName: string;
  /** The package whose import registers it. */
  readonly module: string;
}

/** In `auto` order: fastest first. */
export const BACKEND_CANDIDATES: readonly BackendCandidate[] = [
  { id: 'tensorflow-gpu', tfName: 'tensorflow', module: '@tensorflow/tfjs-node-gpu' },
  { id: 'tensorflow', tfName: 'tensorflow', module: '@tensorflow/tfjs-node' },
  { id: 'webgpu', tfName: 'webgpu', module: '@tensorflow/tfjs-backend-webgpu' },
  { id: 'wasm', tfName: 'wasm', module: '@tensorflow/tfjs-backend-wasm' },
  { id: 'cpu', tfName: 'cpu', module: '@tensorflow/tfjs-backend-cpu' },
];

export interface BackendProbe {
  readonly id: BackendCandidate['id'];
  readonly module: string;
  readonly available: boolean;
  /** Why it is unavailable, or why an available one was not chosen. */
  readonly reason?: string;
}

export interface BackendChoice {
  readonly request: BackendRequest;
  /** The candidate in use. */
  readonly id: BackendCandidate['id'];
  /** tfjs's name for it (`tf.getBackend()`). */
  readonly tfName: string;
  readonly threads: number;
  readonly probes: readonly BackendProbe[];
}

/** What selection needs from the outside world; tests replace it to simulate missing or broken packages. */
export interface BackendEnvironment {
  importModule(specifier: string): Promise<unknown>;
  /** Work a candidate needs before its import (WebGPU: Dawn, the adapter, the device); throws saying why not. */
  prepare?(candidate: BackendCandidate, request: BackendRequest): Promise<void>;
  /** Initialise a registered backend and make it current; resolves false when its initialisation fails. */
  activate(tfName: string): Promise<boolean>;
}

const realEnvironment: BackendEnvironment = {
  importModule: (specifier) => import(specifier),
  async prepare(candidate, request) {
    // A software adapter only when WebGPU was asked for by name.
    if (candidate.id === 'webgpu') await setupWebGpu({ allowFallback: request === 'webgpu' });
  },
  activate: (tfName) => tf.setBackend(tfName),
};

/** The request from a flag, else from MCEVAL_BACKEND, else `auto`. */
export function resolveBackendRequest(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): BackendRequest {
  const value = flag ?? env['MCEVAL_BACKEND'] ?? 'auto';
  if ((BACKEND_REQUESTS as readonly string[]).includes(value)) return value as BackendRequest;
  const source = flag === undefined ? 'MCEVAL_BACKEND' : '--backend';
  // A GPU's name says where GPUs are, not which backend is spelled alike (gpu is one letter from cpu).
  const gpu = gpuBackendHint(value);
  const near = gpu === '' ? didYouMean(value, BACKEND_REQUESTS) : '';
  throw new UserError(
    `Unknown backend "${value}" in ${source}${near}: use one of ${BACKEND_REQUESTS.join(', ')}.${gpu}`,
  );
}

export function candidatesFor(request: BackendRequest): readonly BackendCandidate[] {
  if (request === 'auto') return BACKEND_CANDIDATES;
  return BACKEND_CANDIDATES.filter((candidate) => candidate.tfName === request);
}

/**
 * Tries the candidates of a request in order and activates the first that imports and initialises. With
 * `probeAll`, the candidates after the chosen one are still imported (not activated) so that doctor can report them.
 */
export async function selectBackend(
  request: BackendRequest,
  options: { probeAll?: boolean; environment?: BackendEnvironment } = {},
): Promise<BackendChoice> {
  const environment = options.environment ?? realEnvironment;
  const probes: BackendProbe[] = [];
  let chosen: BackendCandidate | undefined;
  const wanted = candidatesFor(request);
  const toProbe = options.probeAll ? BACKEND_CANDIDATES : wanted;

  for (const candidate of toProbe) {
    const isWanted = wanted.includes(candidate);
    try {
      await environment.prepare?.(candidate, request);
    } catch (error) {
      probes.push({ id: candidate.id, module: candidate.module, available: false, reason: firstLine(error) });
      continue;
    }
    try {
      await environment.importModule(candidate.module);
    } catch (error) {
      probes.push({
        id: candidate.id,
        module: candidate.module,
        available: false,
        reason: `import failed: ${firstLine(error)}`,
      });
      continue;
    }
    if (chosen !== undefined || !isWanted) {
      const reason =
        chosen !== undefined ? `not chosen: ${chosen.id} comes first` : `not requested (--backend ${request})`;
      probes.push({ id: candidate.id, module: candidate.module, available: true, reason });
      continue;
    }
    let activated = false;
    let failure = 'initialisation returned false';
    try {
      activated = await environment.activate(candidate.tfName);
    } catch (error) {
      failure = `initialisation failed: ${firstLine(error)}`;
    }
    if (!activated) {
      probes.push({ id: candidate.id, module: candidate.module, available: false, reason: failure });
      continue;
    }
    chosen = candidate;
    probes.push({ id: candidate.id, module: candidate.module, available: true });
  }

  if (chosen === undefined) {
    const reasons = probes
      .filter((probe) => !probe.available)
      .map((probe) => `${probe.id}: ${probe.reason}`)
      .join('; ');
    throw new UserError(
      `No usable backend for --backend ${request} (${reasons}). Run "mceval doctor" for details, or choose another backend.`,
    );
  }
  return { request, id: chosen.id, tfName: chosen.tfName, threads: await threadCount(chosen, environment), probes };
}

/** Threads the backend computes with: tfjs-node uses every core; wasm reports its own (1 in Node); cpu is 1. */
async function threadCount(candidate: BackendCandidate, environment: BackendEnvironment): Promise<number> {
  if (candidate.tfName === 'tensorflow') return availableParallelism();
  if (candidate.tfName !== 'wasm') return 1;
  const wasm = (await environment.importModule(candidate.module)) as { getThreadsCount?: () => number };
  return typeof wasm.getThreadsCount === 'function' ? wasm.getThreadsCount() : 1;
}

let active: BackendChoice | undefined;

/**
 * Engine settings read later, mid-run, checked now: a bad one stops the run before its store exists. The settings
 * taken at reads (read-settings.ts) are taken here too.
 */
export function checkEngineSettings(): void {
  headChunkElements();
  productTiling();
  splitWeightGradients();
  weightGradientSumsLater();
  inlineNarrowSetting();
  groupSetting();
  activationSetting();
  restsSetting();
  ropeSetting();
  fewRowsMost();
  matrixProductSetting();
  attentionLaneSetting();
  attentionGradientSetting();
  checkTfjsFlagSettings();
  webGpuLimitsSetting();
  robustnessSetting();
  waitSetting();
  overlapSetting();
  replaySetting();
  poolWindowSetting();
  applyReadTimeSettings();
  joinsSetting();
  generationJoin();
}

/**
 * Selects the backend once per process and prepares it for mceval: custom kernels registered, tfjs's console
 * advertising silenced (it would otherwise interleave with --json output).
 */
export async function initEngine(
  request: BackendRequest,
  options: { probeAll?: boolean; applyTuning?: boolean } = {},
): Promise<BackendChoice> {
  checkEngineSettings();
  if (active !== undefined && active.request === request && !options.probeAll) return active;
  tf.env().set('PROD', true);
  const choice = await selectBackend(request, options);
  if (choice.tfName === 'webgpu') {
    // The tuning file's values for this adapter (engine/tuning/apply-tuning.ts), once per process, checked as the
    // environment's are: the settings' own checks say what a value may be.
    const tuned = options.applyTuning === false ? undefined : applyTuningOnce(webGpuAdapterReport()!);
    if (tuned !== undefined && Object.keys(tuned.applied).length > 0) checkEngineSettings();
    checkAttentionLanes(webGpuAdapterReport());
    applyTfjsFlagSettings();
  }
  registerCustomKernels(choice.tfName);
  shareSavedTensors();
  await tf.ready();
  active = choice;
  return choice;
}
