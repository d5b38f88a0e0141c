import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { backendFlag } from '../cli/flags.js';
import { initEngine, resolveBackendRequest, type BackendProbe } from '../engine/backends.js';
import { matmulSelfCheck, type MatmulCheck } from '../engine/selfcheck.js';
import { kernelBuild, type KernelBuild } from '../engine/kernels/wasm-kernels.js';
import { webGpuAdapterReport, type WebGpuAdapterReport } from '../engine/webgpu.js';
import {
  LOW_RANK_PRODUCT,
  groupSetting,
  inlineMostMultiplyAdds,
  productTiling,
} from '../engine/kernels/webgpu/low-rank-product.js';
import { productTile } from '../engine/kernels/webgpu/low-rank-product-wgsl.js';
import { splitWeightGradients, weightGradientSumsLater } from '../engine/kernels/webgpu/weight-gradients.js';
import { attentionGradientSetting } from '../engine/kernels/webgpu/causal-attention.js';
import { matrixProductSetting } from '../engine/kernels/webgpu/matrix-product.js';
import { tfjsFlagValues } from '../engine/kernels/webgpu/tfjs-flags.js';
import { attentionLaneSetting, attentionLanes, subgroupFloor } from '../engine/kernels/webgpu/attention-lanes.js';
import { fewRowsMost } from '../engine/kernels/webgpu/few-rows.js';
import { describeWait } from '../engine/dawn-wait.js';
import { overlapSetting } from '../engine/overlap-setting.js';
import { replaySetting } from '../engine/replay-setting.js';
import { generationJoin, type GenerationJoin } from '../engine/generation-join.js';
import { describePool, poolWindowSetting } from '../engine/webgpu-pool.js';
import { bindGroupsSetting } from '../engine/kept-bind-groups.js';
import { activationSetting } from '../engine/activation-setting.js';
import { restsSetting } from '../engine/rests-setting.js';
import { ropeSetting } from '../engine/rope-setting.js';
import { joinsSetting } from '../engine/kernels/webgpu/buffer-copies.js';
import { savedTensorsSetting } from '../engine/saved-tensors.js';
import { uniformsSetting } from '../engine/packed-uniforms.js';
import { tf } from '../engine/tf.js';
import { appliedTuning, type AppliedTuning } from '../engine/tuning/apply-tuning.js';
import { TUNING_SETTING } from '../engine/tuning/tuning-file.js';
import { describeValues } from '../engine/tuning/tunable-settings.js';
import { describeIsolation, detectIsolation, type IsolationReport } from '../sandbox/isolation.js';

export interface DoctorResult {
  readonly node: string;
  readonly platform: string;
  readonly backends: readonly BackendProbe[];
  readonly chosen: string;
  readonly threads: number;
  readonly matmul: MatmulCheck;
  /** mceval's own WebAssembly kernels (attention, low-rank gradients) on cpu and wasm: which build runs. */
  readonly kernels?: KernelBuild;
  /** What the code-execution sandbox can do here; `defaultMode` is what `--sandbox` defaults to. */
  readonly sandbox: IsolationReport & { readonly defaultMode: 'strict' | 'process' };
  /** The WebGPU adapter Dawn found, when it found one: its features and limits. */
  readonly webgpu?: WebGpuAdapterReport;
  /** On webgpu: mceval's WGSL kernels, or tfjs's own ops (MCEVAL_WEBGPU_KERNELS=0). */
  readonly webgpuKernels?: 'mceval' | 'tfjs';
  /** On webgpu with mceval's kernels: invocations per attention row at head sizes 32, 64 and 128. */
  readonly webgpuAttentionLanes?: Readonly<Record<string, number>>;
  /**
   * On webgpu with mceval's kernels: the base product's multiply-adds up to which a low-rank layer forms its narrow
   * products inside it (MCEVAL_WEBGPU_INLINE_NARROW), null for any size.
   */
  readonly webgpuInlineNarrowUpTo?: number | null;
  /**
   * On webgpu with mceval's kernels: the settings bench/gpu times — the product's output tile
   * (MCEVAL_WEBGPU_PRODUCT_TILE), which other products run on its tiles (MCEVAL_WEBGPU_PRODUCTS), the weight gradients'
   * kernel (MCEVAL_WEBGPU_WEIGHT_GRADIENTS), dispatches per submit (MCEVAL_WEBGPU_SUBMIT_BATCH), tfjs's matMul
   * threshold of too few workgroups (MCEVAL_WEBGPU_MATMUL_THRESHOLD), whether the layers that read one input go in
   * one dispatch (MCEVAL_WEBGPU_GROUPS) and the most rows a product may have to run on the few-rows shader
   * (MCEVAL_WEBGPU_FEW_ROWS).
   */
  readonly webgpuSettings?: {
    readonly productTile: number;
    /** Whether the tiles' WGSL runs its loops or has them written out (MCEVAL_WEBGPU_PRODUCT_CODE). */
    readonly productCode: 'loops' | 'unrolled';
    /** Whether the tiles read their operands' next inner indices ahead (MCEVAL_WEBGPU_PRODUCT_PREFETCH). */
    readonly productPrefetch: 'off' | 'on';
    readonly products: 'transposed' | 'all' | 'tfjs';
    readonly weightGradients: 'split' | 'tfjs';
    /** Whether a split call's second pass waits for the next call's first (MCEVAL_WEBGPU_WEIGHT_GRADIENT_SUMS). */
    readonly weightGradientSums: 'later' | 'now';
    readonly groups: 'auto' | 'never';
    /** Whether a low-rank projection reads the activation before it inside its kernels (MCEVAL_WEBGPU_ACTIVATIONS). */
    readonly activations: 'inside' | 'apart';
    /** Whether a layer split at its dropout forms its rest in its dropped part's product (MCEVAL_WEBGPU_RESTS). */
    readonly rests: 'alongside' | 'apart';
    /** Whether attention rotates a decoder's queries and keys as it reads them (MCEVAL_WEBGPU_ROPE). */
    readonly rope: 'inside' | 'apart';
    /** Whether attention's dq, dk and dv are one dispatch (MCEVAL_WEBGPU_ATTENTION_GRADIENT). */
    readonly attentionGradient: 'together' | 'apart';
    readonly submitBatch: number;
    readonly matmulThreshold: number | 'by GPU';
    readonly fewRows: number;
    /** How the host waits on the GPU: `spin`, `sleep` or `spin N ms, then sleep` (MCEVAL_WEBGPU_WAIT). */
    readonly wait: string;
    /** Whether fine-tuning records a step while the one before it is read (MCEVAL_WEBGPU_OVERLAP). */
    readonly overlap: 'on' | 'off';
    /** Whether fine-tuning replays steps it has recorded and checked (MCEVAL_WEBGPU_REPLAY). */
    readonly replay: 'off' | 'on';
    /** What the buffer pool gives back (MCEVAL_WEBGPU_POOL). */
    readonly pool: string;
    /** Whether a bind group is kept by what it binds or made at every dispatch (MCEVAL_WEBGPU_BIND_GROUPS). */
    readonly bindGroups: 'kept' | 'new';
    /** Whether joins and cuts of whole blocks are buffer copies or shaders (MCEVAL_WEBGPU_JOINS). */
    readonly joins: 'copies' | 'shaders';
    /** Whether tensors kept for a backward pass share their data or are tfjs's clones (MCEVAL_SAVED_TENSORS). */
    readonly savedTensors: 'shared' | 'cloned';
    /** Whether a dispatch's uniforms are packed by mceval or by tfjs (MCEVAL_WEBGPU_UNIFORMS). */
    readonly uniforms: 'packed' | 'tfjs';
  };
  /**
   * When prompts waiting for a generation's batch join it: under way (continuous batching) or once it has emptied
   * (MCEVAL_GENERATION_JOIN).
   */
  readonly generationJoin: GenerationJoin;
  /** What the engine took from the tuning file (`mceval tune`) for the WebGPU adapter it opened. */
  readonly webgpuTuning?: AppliedTuning;
  readonly ok: boolean;
}

/** The relative error above which the backend's matmul is reported as broken (float32 accumulates ~1e-7 here). */
const MAX_RELATIVE_ERROR = 1e-5;

export default class Doctor extends BaseCommand {
  static override summary =
    'Check the machine: Node, each tensor backend, the chosen one, a matmul self-check, and the code sandbox.';
  static override examples = [
    '<%= config.bin %> doctor',
    '<%= config.bin %> doctor --json',
    'MCEVAL_BACKEND=cpu <%= config.bin %> doctor',
  ];
  static override flags = {
    backend: backendFlag,
    size: Flags.integer({ description: 'Matrix size of the self-check.', default: 256, min: 8 }),
  };

  async run(): Promise<DoctorResult> {
    const { flags } = await this.parse(Doctor);
    const choice = await initEngine(resolveBackendRequest(flags.backend), { probeAll: true });
    const matmul = await matmulSelfCheck(flags.size);
    const isolation = await detectIsolation();
    const defaultMode = isolation.strict.available ? 'strict' : 'process';
    const result: DoctorResult = {
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      backends: choice.probes,
      chosen: choice.id,
      threads: choice.threads,
      matmul,
      ...(choice.id === 'wasm' || choice.id === 'cpu' ? { kernels: kernelBuild() } : {}),
      sandbox: { ...isolation, defaultMode },
      ...(webGpuAdapterReport() === undefined ? {} : { webgpu: webGpuAdapterReport()! }),
      ...(choice.id === 'webgpu' ? webGpuKernelReport() : {}),
      generationJoin: generationJoin(),
      ...(choice.id === 'webgpu' && appliedTuning() !== undefined ? { webgpuTuning: appliedTuning()! } : {}),
      ok: matmul.relativeError < MAX_RELATIVE_ERROR,
    };
    this.log(`Node ${result.node} on ${result.platform}`);
    this.log('Backends:');
    for (const probe of choice.probes) {
      const status = probe.available ? 'available  ' : 'unavailable';
      this.log(`  ${probe.id.padEnd(15)} ${status} ${probe.reason ?? ''}`.trimEnd());
    }
    const adapter = result.webgpu;
    if (adapter !== undefined) {
      const features = Object.entries(adapter.features)
        .map(([name, present]) => `${name} ${present ? 'yes' : 'no'}`)
        .join(', ');
      const subgroups = adapter.subgroupSizes;
      const sizes = subgroups === undefined ? '' : ` (subgroup size ${subgroups.min}–${subgroups.max})`;
      this.log(
        `WebGPU adapter: ${adapter.description || adapter.device || adapter.vendor} (${adapter.vendor}, ${adapter.architecture}` +
          `${adapter.isFallbackAdapter ? ', software fallback' : ''}); ${features}${sizes}; max buffer ` +
          `${adapter.limits['maxBufferSize']}, max storage binding ${adapter.limits['maxStorageBufferBindingSize']}, ` +
          `workgroup storage ${adapter.limits['maxComputeWorkgroupStorageSize']}, storage buffers per shader ` +
          `${adapter.limits['maxStorageBuffersPerShaderStage']}; shaders' array indices clamped: ` +
          `${adapter.robustness === 'on' ? 'yes' : 'no'} (MCEVAL_WEBGPU_ROBUSTNESS=${adapter.robustness})`,
      );
    }
    this.log(`Chosen: ${choice.id} (${choice.threads} thread${choice.threads === 1 ? '' : 's'})`);
    this.log(
      `Self-check: ${matmul.size}×${matmul.size} matmul, relative error ${matmul.relativeError.toExponential(2)} ` +
        `(${result.ok ? 'ok' : `above ${MAX_RELATIVE_ERROR}: this backend computes wrong results`}), ${matmul.gflops.toFixed(2)} GFLOP/s`,
    );
    if (result.kernels !== undefined) {
      const fused = result.kernels === 'relaxed-simd' ? 'relaxed SIMD, fused multiply-add' : 'plain SIMD';
      this.log(`Kernels: mceval's WebAssembly attention and low-rank gradients, ${fused}`);
    }
    if (result.webgpuKernels !== undefined) {
      this.log(
        result.webgpuKernels === 'mceval'
          ? "Kernels: mceval's WGSL attention, low-rank product, RMSNorm, RoPE, AdamW, MonteCLoRA regulariser, Unpack, " +
              'SwiGLU, dropout masks ' +
              `(MCEVAL_WEBGPU_KERNELS=0 for tfjs's own ops); attention lanes per row by head size: ` +
              `${Object.entries(result.webgpuAttentionLanes ?? {})
                .map(([size, lanes]) => `${lanes} at ${size}`)
                .join(', ')}; ${describeInline(result.webgpuInlineNarrowUpTo)}`
          : "Kernels: tfjs's own ops (MCEVAL_WEBGPU_KERNELS=0)",
      );
    }
    const settings = result.webgpuSettings;
    if (settings !== undefined) {
      this.log(
        `WebGPU settings: product tile ${settings.productTile} (MCEVAL_WEBGPU_PRODUCT_TILE), its code ` +
          `${settings.productCode} (MCEVAL_WEBGPU_PRODUCT_CODE), prefetch ${settings.productPrefetch} ` +
          `(MCEVAL_WEBGPU_PRODUCT_PREFETCH), other products on its ` +
          `tiles ${settings.products} (MCEVAL_WEBGPU_PRODUCTS), weight gradients ` +
          `${settings.weightGradients} (MCEVAL_WEBGPU_WEIGHT_GRADIENTS), their sums ${settings.weightGradientSums} ` +
          `(MCEVAL_WEBGPU_WEIGHT_GRADIENT_SUMS), a submit every ${settings.submitBatch} ` +
          `dispatches (MCEVAL_WEBGPU_SUBMIT_BATCH), matMul's threshold of too few workgroups ` +
          `${settings.matmulThreshold} (MCEVAL_WEBGPU_MATMUL_THRESHOLD), groups of layers reading one input ` +
          `${settings.groups} (MCEVAL_WEBGPU_GROUPS), activations read ${settings.activations} the ` +
          `projections after them (MCEVAL_WEBGPU_ACTIVATIONS), the rests of layers split at their dropout ` +
          `${settings.rests} their dropped parts (MCEVAL_WEBGPU_RESTS), RoPE ${settings.rope} attention where it keeps no ` +
          `cache (MCEVAL_WEBGPU_ROPE), attention's gradients ${settings.attentionGradient} ` +
          `(MCEVAL_WEBGPU_ATTENTION_GRADIENT), products of up to ${settings.fewRows} rows on the few-rows ` +
          `shader (MCEVAL_WEBGPU_FEW_ROWS), waits on the GPU: ${settings.wait} (MCEVAL_WEBGPU_WAIT), steps ` +
          `recorded while the one before is read: ${settings.overlap} (MCEVAL_WEBGPU_OVERLAP), steps replayed once ` +
          `recorded and checked: ${settings.replay} (MCEVAL_WEBGPU_REPLAY), buffer pool: ` +
          `${settings.pool} (MCEVAL_WEBGPU_POOL), bind groups ${settings.bindGroups} (MCEVAL_WEBGPU_BIND_GROUPS), joins ` +
          `of whole blocks by ${settings.joins} (MCEVAL_WEBGPU_JOINS), tensors saved for the backward pass ` +
          `${settings.savedTensors} (MCEVAL_SAVED_TENSORS), uniforms packed by ` +
          `${settings.uniforms === 'packed' ? 'mceval' : 'tfjs'} (MCEVAL_WEBGPU_UNIFORMS)`,
      );
    }
    if (result.webgpuTuning !== undefined) this.log(describeTuning(result.webgpuTuning));
    this.log(
      `Generation: waiting prompts join a batch ${result.generationJoin === 'under-way' ? 'under way' : 'once it has emptied'} ` +
        '(MCEVAL_GENERATION_JOIN)',
    );
    this.log(`Sandbox: ${describeIsolation(isolation, defaultMode)}; python ${isolation.python ?? 'not found'}`);
    if (!result.ok) process.exitCode = 1;
    return result;
  }
}

/** The product tiles' settings, as doctor reports them. */
function productSettings() {
  const { blocks, unrolled, prefetch } = productTiling();
  return {
    productTile: productTile(blocks),
    productCode: unrolled ? ('unrolled' as const) : ('loops' as const),
    productPrefetch: prefetch ? ('on' as const) : ('off' as const),
  };
}

/** Which kernels run on webgpu and, for mceval's, how many invocations share an attention row at common head sizes. */
function webGpuKernelReport(): Pick<
  DoctorResult,
  'webgpuKernels' | 'webgpuAttentionLanes' | 'webgpuInlineNarrowUpTo' | 'webgpuSettings'
> {
  if (tf.getKernel(LOW_RANK_PRODUCT, 'webgpu') === undefined) return { webgpuKernels: 'tfjs' };
  const floor = subgroupFloor(webGpuAdapterReport());
  const setting = attentionLaneSetting();
  const lanes = Object.fromEntries([32, 64, 128].map((size) => [size, attentionLanes(size / 4, floor, setting)]));
  const upTo = inlineMostMultiplyAdds();
  return {
    webgpuKernels: 'mceval',
    webgpuAttentionLanes: lanes,
    webgpuInlineNarrowUpTo: Number.isFinite(upTo) ? upTo : null,
    webgpuSettings: {
      ...productSettings(),
      products: matrixProductSetting(),
      weightGradients: splitWeightGradients() ? 'split' : 'tfjs',
      weightGradientSums: weightGradientSumsLater() ? 'later' : 'now',
      groups: groupSetting(),
      activations: activationSetting(),
      rests: restsSetting(),
      rope: ropeSetting(),
      attentionGradient: attentionGradientSetting(),
      fewRows: fewRowsMost(),
      wait: describeWait(webGpuAdapterReport()?.isFallbackAdapter ?? false),
      overlap: overlapSetting(),
      replay: replaySetting(),
      pool: describePool(poolWindowSetting()),
      bindGroups: bindGroupsSetting(),
      joins: joinsSetting(),
      savedTensors: savedTensorsSetting(),
      uniforms: uniformsSetting(),
      ...tfjsFlagValues(),
    },
  };
}

function describeTuning({ file, applied, overridden, found }: AppliedTuning): string {
  if (file === undefined) return `Tuning: none (${TUNING_SETTING}=off)`;
  if (!found) return `Tuning: ${file} has none for this GPU ("mceval tune" times the settings marked by GPU)`;
  return (
    `Tuning from ${file}: ${Object.keys(applied).length === 0 ? 'every default kept' : describeValues(applied)}` +
    (overridden.length === 0 ? '' : `; set by the environment instead: ${overridden.join(', ')}`)
  );
}

function describeInline(upTo: number | null | undefined): string {
  const where = upTo === null ? 'always' : !upTo ? 'never' : `up to ${upTo} multiply-adds`;
  return `a low-rank layer's narrow products inside its product: ${where} (MCEVAL_WEBGPU_INLINE_NARROW)`;
}
