/**
 * Bind group layouts kept by their pipeline. tfjs-webgpu records each dispatch with
 * `pipeline.getBindGroupLayout(0)`, and in Dawn every such call crosses into native code and makes a new wrapper of
 * the same layout; a layout may serve any number of bind groups, so each pipeline here answers with the one it gave
 * first for that index. Pipelines made either way (tfjs compiles asynchronously under WEBGPU_ENGINE_COMPILE_ONLY) keep
 * theirs.
 */
import { keptPerNumber } from './kept-per-number.js';

export interface LayoutGiver {
  getBindGroupLayout(index: number): unknown;
}

export interface PipelineMaker {
  createComputePipeline(descriptor: object): LayoutGiver;
  createComputePipelineAsync?(descriptor: object): Promise<LayoutGiver>;
}

/** Makes `pipeline` answer each index with the layout it gave first for it. */
function keepPipelineLayouts<P extends LayoutGiver>(pipeline: P): P {
  pipeline.getBindGroupLayout = keptPerNumber(pipeline.getBindGroupLayout.bind(pipeline));
  return pipeline;
}

/** Makes every pipeline `device` creates from now on keep its layouts. */
export function keepLayouts(device: PipelineMaker): void {
  const create = device.createComputePipeline.bind(device);
  device.createComputePipeline = (descriptor) => keepPipelineLayouts(create(descriptor));
  const createAsync = device.createComputePipelineAsync?.bind(device);
  if (createAsync !== undefined)
    device.createComputePipelineAsync = async (descriptor) => keepPipelineLayouts(await createAsync(descriptor));
}
