import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BACKEND_CANDIDATES,
  resolveBackendRequest,
  selectBackend,
  type BackendEnvironment,
} from '../src/engine/backends.js';
import { UserError } from '../src/errors.js';

/** A simulated machine: which packages import, which backends initialise. */
function environment(options: {
  importable: string[];
  initialises: string[];
}): BackendEnvironment & { activated: string[] } {
  const activated: string[] = [];
  return {
    activated,
    async importModule(specifier) {
      if (!options.importable.includes(specifier))
        throw new Error(`Cannot find package '${specifier}'\n    at stack line`);
      return {};
    },
    async activate(name) {
      activated.push(name);
      return options.initialises.includes(name);
    },
  };
}

test('auto tries tfjs-node-gpu, tfjs-node, webgpu, wasm, cpu in that order', () => {
  assert.deepEqual(
    BACKEND_CANDIDATES.map((candidate) => candidate.id),
    ['tensorflow-gpu', 'tensorflow', 'webgpu', 'wasm', 'cpu'],
  );
});

test('webgpu: auto passes over a software adapter (saying why); --backend webgpu takes it', async () => {
  const requests: string[] = [];
  const env = {
    ...environment({
      importable: ['@tensorflow/tfjs-backend-webgpu', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-cpu'],
      initialises: ['webgpu', 'wasm', 'cpu'],
    }),
    async prepare(candidate: { id: string }, request: string) {
      if (candidate.id !== 'webgpu') return;
      requests.push(request);
      if (request !== 'webgpu') throw new Error('only a software adapter (llvmpipe); ask for it with --backend webgpu');
    },
  };
  const auto = await selectBackend('auto', { environment: env });
  assert.equal(auto.id, 'wasm');
  assert.match(auto.probes.find((probe) => probe.id === 'webgpu')!.reason!, /^only a software adapter \(llvmpipe\)/);
  const asked = await selectBackend('webgpu', { environment: env });
  assert.equal(asked.id, 'webgpu');
  assert.equal(asked.threads, 1);
  assert.deepEqual(requests, ['auto', 'webgpu']);
});

test('auto falls back to wasm when tfjs-node is missing, keeping each reason', async () => {
  const env = environment({
    importable: ['@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-cpu'],
    initialises: ['wasm', 'cpu'],
  });
  const choice = await selectBackend('auto', { environment: env });
  assert.equal(choice.id, 'wasm');
  assert.deepEqual(env.activated, ['wasm']);
  assert.equal(choice.probes[0]!.id, 'tensorflow-gpu');
  assert.equal(choice.probes[0]!.available, false);
  assert.match(choice.probes[0]!.reason!, /^import failed: Cannot find package '@tensorflow\/tfjs-node-gpu'$/);
  assert.match(choice.probes[1]!.reason!, /tfjs-node'/);
});

test('a half-installed tfjs-node (imports, fails to initialise) does not count', async () => {
  const env = environment({
    importable: ['@tensorflow/tfjs-node', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-cpu'],
    initialises: ['wasm', 'cpu'],
  });
  const choice = await selectBackend('auto', { environment: env });
  assert.equal(choice.id, 'wasm');
  const node = choice.probes.find((probe) => probe.id === 'tensorflow')!;
  assert.equal(node.available, false);
  assert.match(node.reason!, /initialisation returned false/);
});

test('wasm failing to initialise falls back to cpu', async () => {
  const env = environment({
    importable: ['@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-cpu'],
    initialises: ['cpu'],
  });
  const choice = await selectBackend('auto', { environment: env });
  assert.equal(choice.id, 'cpu');
  assert.deepEqual(env.activated, ['wasm', 'cpu']);
});

test('probeAll reports candidates after the chosen one as available but not chosen', async () => {
  const env = environment({
    importable: ['@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-cpu'],
    initialises: ['wasm', 'cpu'],
  });
  const choice = await selectBackend('auto', { environment: env, probeAll: true });
  const cpu = choice.probes.find((probe) => probe.id === 'cpu')!;
  assert.equal(cpu.available, true);
  assert.match(cpu.reason!, /not chosen: wasm comes first/);
});

test('an explicit request that cannot be met is a UserError naming the reasons', async () => {
  const env = environment({ importable: ['@tensorflow/tfjs-backend-cpu'], initialises: ['cpu'] });
  await assert.rejects(selectBackend('tensorflow', { environment: env }), (error: unknown) => {
    assert.ok(error instanceof UserError);
    assert.match(
      error.message,
      /No usable backend for --backend tensorflow \(tensorflow-gpu: import failed.*tensorflow: import failed/,
    );
    return true;
  });
});

test('the request comes from the flag, else MCEVAL_BACKEND, else auto; unknown names are rejected', () => {
  assert.equal(resolveBackendRequest('cpu', { MCEVAL_BACKEND: 'wasm' }), 'cpu');
  assert.equal(resolveBackendRequest(undefined, { MCEVAL_BACKEND: 'wasm' }), 'wasm');
  assert.equal(resolveBackendRequest(undefined, {}), 'auto');
  assert.throws(
    () => resolveBackendRequest(undefined, { MCEVAL_BACKEND: 'gpu' }),
    /Unknown backend "gpu" in MCEVAL_BACKEND: .* A GPU is used through --backend webgpu/,
  );
  assert.throws(
    () => resolveBackendRequest('wams', {}),
    /Unknown backend "wams" in --backend \(did you mean wasm\?\): use one of/,
  );
  // PyTorch's device names are told where a GPU is; other names only what the backends are.
  for (const name of ['cuda', 'CUDA:1', 'mps', 'rocm']) {
    assert.throws(() => resolveBackendRequest(name, {}), /--backend webgpu/, name);
  }
  assert.throws(
    () => resolveBackendRequest('tpu', {}),
    (error: Error) => !error.message.includes('GPU') && /use one of auto/.test(error.message),
  );
});
