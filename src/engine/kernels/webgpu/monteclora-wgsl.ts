/**
 * WGSL of MonteCLoRA's device draw and regulariser, shared by their kernels: the draw's scales (draw-scales.ts), the
 * regulariser's terms (regularizer-terms.ts) and both as one dispatch each way (fused-draw.ts). Every shader here
 * declares DRAW_UNIFORMS, filled by drawUniformValues, and binds its tensors by the names the functions read: s [L, r],
 * chiSquare [L, M, r], p [L, N], noise [L, M, N], covariance [L·M, r], weights [L·M, N] and, for the random-prior
 * ablation, prior [L, N].
 */
import { floatUniform, intUniform, type ShaderUniform } from './shader.js';

/** The uniforms: L, M, r, N, the dispatch's element count, the parts' sizes, ε, 1 − 2/N and the regulariser's. */
export const DRAW_UNIFORMS =
  'rows : i32, samples : i32, rank : i32, components : i32, count : i32, covarianceCount : i32, weightCount : i32, ' +
  'sCount : i32, scale : f32, keep : f32, outerSamples : f32, symmetricPrior : f32, referenceSign : i32, ' +
  'termWeights : vec4<f32>,';

/** DRAW_UNIFORMS' values; those a shader does not read may be left at their defaults. */
export interface DrawUniforms {
  readonly rows: number;
  readonly samples: number;
  readonly rank?: number;
  readonly components?: number;
  readonly count?: number;
  /** ε (ε² with the reference code's double scaling). */
  readonly scale?: number;
  /** The published code's Dirichlet sign. */
  readonly referenceSign?: boolean;
  readonly symmetricPrior?: number;
  readonly termWeights?: readonly [number, number, number, number];
}

export function drawUniformValues(u: DrawUniforms): ShaderUniform[] {
  const [r, n] = [u.rank ?? 0, u.components ?? 0];
  const ints = [u.rows, u.samples, r, n, u.count ?? 0, u.rows * u.samples * r, u.rows * u.samples * n, u.rows * r];
  return [
    ...ints.map(intUniform),
    floatUniform(u.scale ?? 0),
    // 1 − 2/N as the host rounds it (mixture-weights.ts).
    floatUniform(n === 0 ? 0 : 1 - 2 / n),
    floatUniform(u.samples),
    floatUniform(u.symmetricPrior ?? 0),
    intUniform(u.referenceSign === true ? 1 : 0),
    { type: 'float32', data: [...(u.termWeights ?? [0, 0, 0, 0])] },
  ];
}

/** Σ = max(e^{2s}·c, 1e-3) at element i of [L, M, r]; the columns' scale is sqrt(Σ)·ε. */
export const COVARIANCE_WGSL = `
fn covarianceAt(i : i32) -> f32 {
  let r = uniforms.rank;
  let l = i / (uniforms.samples * r);
  return max(exp(2.0 * s[l * r + i % r]) * chiSquare[i], 1e-3);
}
`;

/**
 * ∂s[l, j] = Σ_m 2e^{2s}·c·∂Σ where e^{2s}·c ≥ 1e-3 (the clamp's gradient is zero below it), for ∂Σ at k the shader's
 * covarianceUpstream(k, Σ_k): Σ's own upstream plus the columns' scale's through it, ∂scale·ε/(2√Σ).
 */
export const S_DRAW_GRADIENT_WGSL = `
fn sDrawGradientAt(i : i32) -> f32 {
  let r = uniforms.rank;
  let l = i / r;
  let e = exp(2.0 * s[i]);
  var total = 0.0;
  for (var m = 0; m < uniforms.samples; m++) {
    let k = (l * uniforms.samples + m) * r + i % r;
    let raw = e * chiSquare[k];
    let c = max(raw, 1e-3);
    total += select(0.0, covarianceUpstream(k, c) * chiSquare[k], raw >= 1e-3);
  }
  return total * e * 2.0;
}
`;

/** ∂scale·ε/(2√Σ): the columns' scale's upstream `dColumnScale` through ε√Σ, at element k with Σ = c. */
export const columnScaleUpstream = (k: string, c: string): string =>
  `dColumnScale[${k}] * uniforms.scale * 0.5 / sqrt(${c})`;

/**
 * Layer l's logistic-normal parameters: α = max(e^p, 1e-6), μ_q = ln α_q − mean(ln α), v_q = max(α_q⁻¹·(1 − 2/N) +
 * Σα⁻¹/N², 1e-6) — here the mean of ln α and Σα⁻¹, from which logit() makes μ_q + √(v_q + 1e-6)·z_q.
 */
const LOGISTIC_NORMAL = `
fn concentration(x : f32) -> f32 {
  return max(exp(x), 1e-6);
}

struct Layer {
  meanLog : f32,
  inverseSum : f32,
}

fn layerOf(l : i32) -> Layer {
  let n = uniforms.components;
  var out = Layer(0.0, 0.0);
  for (var q = 0; q < n; q++) {
    let a = concentration(p[l * n + q]);
    out.meanLog += log(a);
    out.inverseSum += 1.0 / a;
  }
  out.meanLog /= f32(n);
  return out;
}

fn rawVariance(layer : Layer, a : f32) -> f32 {
  let n = f32(uniforms.components);
  return (1.0 / a) * uniforms.keep + layer.inverseSum / (n * n);
}

fn logit(layer : Layer, l : i32, row : i32, q : i32) -> f32 {
  let n = uniforms.components;
  let a = concentration(p[l * n + q]);
  let deviation = sqrt(max(rawVariance(layer, a), 1e-6) + 1e-6);
  return log(a) - layer.meanLog + deviation * noise[row * n + q];
}
`;

/** The mixture weight w = softmax(μ + √(v + 1e-6)·z) at element i of [L, M, N]. */
export const MIXTURE_WEIGHT_WGSL = `${LOGISTIC_NORMAL}
fn mixtureWeightAt(i : i32) -> f32 {
  let n = uniforms.components;
  let row = i / n;
  let l = row / uniforms.samples;
  let layer = layerOf(l);
  var largest = logit(layer, l, row, 0);
  for (var q = 1; q < n; q++) {
    largest = max(largest, logit(layer, l, row, q));
  }
  var total = 0.0;
  for (var q = 0; q < n; q++) {
    total += exp(logit(layer, l, row, q) - largest);
  }
  return exp(logit(layer, l, row, i % n) - largest) / total;
}
`;

/**
 * ∂p[l, k] = Σ_m α_k·∂α_k for w's upstream weightUpstream(at) (the shader's): back through the softmax (∂y = w ⊙ (∂w −
 * Σ w∂w), which sums to zero over a row, so μ's mean subtraction passes it unchanged), √(v + 1e-6) (∂v = ∂y·z/(2√(v +
 * 1e-6)), zero where v was clamped), v's α⁻¹ terms, ln α and max(e^p, 1e-6) (zero below the clamp). Reads `weights`.
 */
export const P_DRAW_GRADIENT_WGSL = `${LOGISTIC_NORMAL}
fn pDrawGradientAt(i : i32) -> f32 {
  let n = uniforms.components;
  let l = i / n;
  let k = i % n;
  let layer = layerOf(l);
  let e = exp(p[i]);
  let a = max(e, 1e-6);
  var total = 0.0;
  for (var m = 0; m < uniforms.samples; m++) {
    let row = l * uniforms.samples + m;
    var dot = 0.0;
    for (var q = 0; q < n; q++) {
      dot += weights[row * n + q] * weightUpstream(row * n + q);
    }
    var varianceSum = 0.0;
    var ownLogit = 0.0;
    var ownVariance = 0.0;
    for (var q = 0; q < n; q++) {
      let dLogit = weights[row * n + q] * (weightUpstream(row * n + q) - dot);
      let aq = concentration(p[l * n + q]);
      let raw = rawVariance(layer, aq);
      let deviation = sqrt(max(raw, 1e-6) + 1e-6);
      let dVariance = select(0.0, dLogit * noise[row * n + q] * 0.5 / deviation, raw >= 1e-6);
      varianceSum += dVariance;
      if (q == k) {
        ownLogit = dLogit;
        ownVariance = dVariance;
      }
    }
    let dInverse = ownVariance * uniforms.keep + varianceSum / f32(n * n);
    total += ownLogit / a - dInverse / (a * a);
  }
  return select(0.0, total * e, e >= 1e-6);
}
`;

/** lnΓ, ψ and ψ′ for x > 0: the asymptotic series at x + 6 and the recurrence down to x (special-functions.ts). */
const SPECIAL_FUNCTIONS = `
fn logGamma(x : f32) -> f32 {
  var shift = 0.0;
  for (var k = 0; k < 6; k++) {
    shift += log(x + f32(k));
  }
  let y = x + 6.0;
  let inv = 1.0 / y;
  let inv2 = inv * inv;
  let tail = inv2 * (1.0 / 360.0 - inv2 * (1.0 / 1260.0 - inv2 * (1.0 / 1680.0)));
  return (y - 0.5) * log(y) - y + 0.91893853320467274 + inv * (1.0 / 12.0 - tail) - shift;
}

fn digamma(x : f32) -> f32 {
  var shift = 0.0;
  for (var k = 0; k < 6; k++) {
    shift += 1.0 / (x + f32(k));
  }
  let y = x + 6.0;
  let z = 1.0 / (y * y);
  let series = z * (1.0 / 12.0 - z * (1.0 / 120.0 - z * (1.0 / 252.0 - z * (1.0 / 240.0 - z * (1.0 / 132.0)))));
  return log(y) - 0.5 / y - series - shift;
}

fn trigamma(x : f32) -> f32 {
  var shift = 0.0;
  for (var k = 0; k < 6; k++) {
    let shifted = x + f32(k);
    shift += 1.0 / (shifted * shifted);
  }
  let inv = 1.0 / (x + 6.0);
  let inv2 = inv * inv;
  let tail = inv2 * (1.0 / 30.0 - inv2 * (1.0 / 42.0 - inv2 * (1.0 / 30.0)));
  return inv + inv2 / 2.0 + inv * inv2 * (1.0 / 6.0 - tail) + shift;
}
`;

/** α⁰ (the bound `prior`, or the symmetric one) and α = max(e^p, 1e-6) (mixture-weights.ts's concentration). */
const priorCode = (hasPrior: boolean): string => `
fn priorAt(i : i32) -> f32 {
  return ${hasPrior ? 'prior[i]' : 'uniforms.symmetricPrior'};
}

fn alphaAt(i : i32) -> f32 {
  return max(exp(p[i]), 1e-6);
}
`;

/**
 * Each term's share of one value: KL_G's of a covariance element c, KL_W's of an element v of s, KL_D's of layer
 * `row` (over its N components), the cooperative loss's of a weight w; and termsOf(sums), the terms from the sums
 * over every element: [KL_G/M, KL_W, KL_D, C/M].
 */
export const regularizerTermsCode = (hasPrior: boolean): string => `${SPECIAL_FUNCTIONS}${priorCode(hasPrior)}
fn gaussianTerm(c : f32) -> f32 {
  return c - log(max(c, 1e-6)) - 1.0;
}

fn wishartTerm(v : f32) -> f32 {
  return exp(2.0 * v) - 2.0 * v - 1.0;
}

fn dirichletTerm(row : i32) -> f32 {
  let n = uniforms.components;
  var total = 0.0;
  var priorTotal = 0.0;
  for (var k = 0; k < n; k++) {
    total += alphaAt(row * n + k);
    priorTotal += priorAt(row * n + k);
  }
  var perComponent = 0.0;
  var expectation = 0.0;
  let psiTotal = digamma(total);
  for (var k = 0; k < n; k++) {
    let a = alphaAt(row * n + k);
    let a0 = priorAt(row * n + k);
    perComponent += logGamma(a) - logGamma(a0);
    expectation += (a - a0) * (digamma(a) - psiTotal);
  }
  let normaliser = logGamma(total) - logGamma(priorTotal);
  let signed = select(normaliser - perComponent, normaliser + perComponent, uniforms.referenceSign == 1);
  return signed + expectation;
}

fn cooperativeTerm(w : f32) -> f32 {
  return w * w;
}

fn termsOf(sums : vec4<f32>) -> vec4<f32> {
  return vec4<f32>(
    sums.x * (f32(uniforms.components) / 2.0) / uniforms.outerSamples,
    sums.y * f32(uniforms.rank) / 2.0,
    sums.z,
    sums.w / uniforms.outerSamples,
  );
}

fn regularizerOf(terms : vec4<f32>) -> f32 {
  return dot(terms, uniforms.termWeights) / f32(uniforms.rows);
}
`;

/**
 * up(k): term k's upstream gradient (the binding `terms`) plus its share of the weighted mean's (`total`), [∂KL_G/M,
 * ∂KL_W, ∂KL_D, ∂C/M] — for the regulariser's gradients below.
 */
export const regularizerUpstreamCode = (terms: string, total: string): string => `
fn up(k : i32) -> f32 {
  return ${terms}[k] + ${total}[0] * uniforms.termWeights[k] / f32(uniforms.rows);
}
`;

/** The regulariser's gradient in each of its inputs, each a function of its own (a shader binds what its parts read). */
export const REGULARIZER_GRADIENTS = {
  /** In a covariance element c. */
  covariance: `
fn covarianceTermGradient(c : f32) -> f32 {
  let inverse = select(0.0, 1.0 / c, c >= 1e-6);
  return up(0) * (f32(uniforms.components) / 2.0) * (1.0 - inverse) / uniforms.outerSamples;
}
`,
  /** In element i of s. */
  s: `
fn sTermGradient(i : i32) -> f32 {
  return up(1) * f32(uniforms.rank) * (exp(2.0 * s[i]) - 1.0);
}
`,
  /** In a weight w. */
  weights: `
fn weightTermGradient(w : f32) -> f32 {
  return up(3) * 2.0 * w / uniforms.outerSamples;
}
`,
  /**
   * In element i of p, through α = max(e^p, 1e-6): ∂α/∂p = e^p where e^p ≥ 1e-6 (tfjs's maximum passes the gradient on
   * a tie), else 0.
   */
  p: (hasPrior: boolean) => `${SPECIAL_FUNCTIONS}${priorCode(hasPrior)}
fn pTermGradient(i : i32) -> f32 {
  let n = uniforms.components;
  let row = i / n;
  var total = 0.0;
  var excess = 0.0;
  for (var k = 0; k < n; k++) {
    let a = alphaAt(row * n + k);
    total += a;
    excess += a - priorAt(row * n + k);
  }
  let a = alphaAt(i);
  let own = (a - priorAt(i)) * trigamma(a) - trigamma(total) * excess;
  let dAlpha = up(2) * select(own, own + 2.0 * digamma(a), uniforms.referenceSign == 1);
  let e = exp(p[i]);
  return select(0.0, dAlpha * e, e >= 1e-6);
}
`,
} as const;

/**
 * main() of a one-workgroup shader of `size` invocations that sums the regulariser's terms over every element, each
 * invocation taking a strided slice, then a tree (workgroupSumCode's `workgroupSum`, which the shader declares):
 * `covariance` and `weight` are WGSL statements that bind `c` (covariance element i) and `w` (weight i) — reading
 * them, or forming and writing them — and the terms go to `terms`[0..3], the regulariser to total[0].
 */
export const regularizerSumsMain = (size: number, parts: { covariance: string; weight: string; terms: string }) => `
fn main() {
  let t = i32(localIndex);
  var acc = vec4<f32>(0.0);
  for (var i = t; i < uniforms.covarianceCount; i += ${size}) {
    ${parts.covariance}
    acc.x += gaussianTerm(c);
  }
  for (var i = t; i < uniforms.sCount; i += ${size}) {
    acc.y += wishartTerm(s[i]);
  }
  for (var row = t; row < uniforms.rows; row += ${size}) {
    acc.z += dirichletTerm(row);
  }
  for (var i = t; i < uniforms.weightCount; i += ${size}) {
    ${parts.weight}
    acc.w += cooperativeTerm(w);
  }
  let sums = workgroupSum(acc);
  if (t == 0) {
    let values = termsOf(sums);
    ${parts.terms}[0] = values.x;
    ${parts.terms}[1] = values.y;
    ${parts.terms}[2] = values.z;
    ${parts.terms}[3] = values.w;
    total[0] = regularizerOf(values);
  }
}
`;

/** The regulariser's attributes: the published code's Dirichlet sign, a symmetric prior and the terms' weights. */
export interface RegularizerAttrs {
  readonly referenceSign: boolean;
  /** α⁰ where no `prior` tensor is given. */
  readonly symmetricPrior: number;
  /** Each term's weight in the regulariser, (Σ_k weight_k · term_k) / L. */
  readonly termWeights: readonly [number, number, number, number];
}
