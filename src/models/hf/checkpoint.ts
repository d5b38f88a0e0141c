/**
 * The weights of a Hugging Face model folder: `model.safetensors`, or shards listed by
 * `model.safetensors.index.json`. Looks tensors up by name across shards and reads each once, on demand.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../errors.js';
import { SafetensorsFile } from '../safetensors.js';

export class Checkpoint {
  private constructor(
    readonly dir: string,
    private readonly fileOf: ReadonlyMap<string, SafetensorsFile>,
    private readonly files: readonly SafetensorsFile[],
  ) {}

  static open(dir: string): Checkpoint {
    const single = join(dir, 'model.safetensors');
    const index = join(dir, 'model.safetensors.index.json');
    if (existsSync(single)) {
      const file = SafetensorsFile.open(single);
      return new Checkpoint(dir, new Map([...file.tensors.keys()].map((name) => [name, file])), [file]);
    }
    if (!existsSync(index)) {
      throw new UserError(
        `${dir} has no model.safetensors or model.safetensors.index.json: put the checkpoint's weights there.`,
      );
    }
    const weightMap = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map?: Record<string, string> }).weight_map;
    if (weightMap === undefined) throw new UserError(`${index} has no "weight_map".`);
    const shards = new Map<string, SafetensorsFile>();
    const fileOf = new Map<string, SafetensorsFile>();
    try {
      for (const [name, shard] of Object.entries(weightMap)) {
        if (!shards.has(shard)) shards.set(shard, SafetensorsFile.open(join(dir, shard)));
        fileOf.set(name, shards.get(shard)!);
      }
    } catch (error) {
      shards.forEach((file) => file.close());
      throw error;
    }
    return new Checkpoint(dir, fileOf, [...shards.values()]);
  }

  has(name: string): boolean {
    return this.fileOf.has(name);
  }

  shapeOf(name: string): readonly number[] {
    const file = this.fileOf.get(name);
    if (file === undefined) throw new UserError(`${this.dir}: the checkpoint has no tensor "${name}".`);
    return file.tensors.get(name)!.shape;
  }

  /** A tensor as float32, checked against the shape the model expects. */
  read(name: string, expectedShape: readonly number[]): Float32Array {
    const file = this.fileOf.get(name);
    if (file === undefined)
      throw new UserError(`${this.dir}: the checkpoint has no tensor "${name}", which the config requires.`);
    const { shape, values } = file.read(name);
    if (shape.length !== expectedShape.length || shape.some((n, i) => n !== expectedShape[i])) {
      throw new UserError(
        `${file.path}: tensor "${name}" has shape [${shape}], the config implies [${expectedShape}].`,
      );
    }
    return values;
  }

  close(): void {
    this.files.forEach((file) => file.close());
  }
}
