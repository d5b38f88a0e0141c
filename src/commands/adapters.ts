import { BaseCommand } from '../cli/base-command.js';
import { loadPreset, presetNames } from '../peft/preset.js';

export interface AdapterListing {
  readonly name: string;
  readonly method: string;
  readonly description: string;
  readonly grid: { readonly lr: readonly number[]; readonly bs: readonly number[] };
}

export default class Adapters extends BaseCommand {
  static override summary = 'List the adapter presets (adapters/*.json) and their default grids.';
  static override examples = ['<%= config.bin %> adapters', '<%= config.bin %> adapters --json'];

  async run(): Promise<AdapterListing[]> {
    await this.parse(Adapters);
    const listing = presetNames().map((name) => {
      const preset = loadPreset(name);
      return { name: preset.name, method: preset.method.name, description: preset.description, grid: preset.grid };
    });
    const width = Math.max(...listing.map((adapter) => adapter.name.length));
    for (const adapter of listing) {
      this.log(`${adapter.name.padEnd(width)}  ${adapter.description}`);
      this.log(`${' '.repeat(width)}  grid: lr ${adapter.grid.lr.join(', ')} × bs ${adapter.grid.bs.join(', ')}`);
    }
    return listing;
  }
}
