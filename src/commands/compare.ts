import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { UserError } from '../errors.js';
import { compareSweeps, parseThreshold, type SweepComparison } from '../report/compare-model.js';
import { availableMetrics } from '../report/report-model.js';
import { readAllRuns } from '../report/sources.js';
import { fixed, pValue } from '../report/formats/rows.js';
import { markdownGrid, terminalGrid } from '../report/formats/text.js';
import { didYouMean } from '../nearest-name.js';

const signed = (value: number) => (value > 0 ? `+${fixed(value)}` : fixed(value));

function rows(comparison: SweepComparison): string[][] {
  return comparison.movements.map((m) => [
    m.task,
    m.adapter,
    String(m.pairs),
    fixed(m.baseline.median),
    fixed(m.candidate.median),
    signed(m.candidate.median - m.baseline.median),
    signed(m.candidate.spread - m.baseline.spread),
    signed(m.candidate.nll - m.baseline.nll),
    pValue(m.pvalue),
    m.violations.length === 0
      ? 'ok'
      : `REGRESSED: ${m.violations.map((v) => `${v.threshold} (moved ${signed(v.change)})`).join('; ')}`,
  ]);
}

export default class Compare extends BaseCommand {
  static override summary =
    'Compare a candidate sweep with a baseline; exit 1 when a threshold is crossed (nightly checks).';
  static override description =
    'BASELINE and CANDIDATE are run stores (merged ones too) or results.json files. Runs match by task, adapter, ' +
    'learning rate, batch size and seed (not by mceval version). Per task × adapter it prints the median of --metric ' +
    'in both, its change, the change of the spread and of the median NLL, and the Wilcoxon p-value of the paired ' +
    'values. --threshold NAME=±V (repeatable) sets how far NAME may move in the direction of its sign: accuracy=-0.01 ' +
    'lets the median accuracy fall by 0.01, spread=+0.02 lets the spread grow by 0.02, nll=+0.05 lets the median NLL ' +
    'grow by 0.05; NAME is spread, nll, or a metric. Exit status: 0 within every threshold, 1 when one is crossed, 2 ' +
    'on unusable input.';
  static override examples = [
    '<%= config.bin %> compare ./nightly/2026-11-30 ./nightly/2026-12-01 --threshold accuracy=-0.01 --threshold spread=+0.02 --threshold nll=+0.05',
    '<%= config.bin %> compare baseline/results.json ./mceval-runs --threshold accuracy=-0.01 --format markdown >> comment.md',
  ];
  static override args = {
    baseline: Args.string({ description: 'The baseline: a run store or results.json.', required: true }),
    candidate: Args.string({ description: 'The candidate: a run store or results.json.', required: true }),
  };
  static override flags = {
    threshold: Flags.string({
      description: 'NAME=+V or NAME=-V: how far NAME may move, and which way.',
      multiple: true,
    }),
    metric: Flags.string({ description: 'The metric whose median and spread are compared.', default: 'accuracy' }),
    format: Flags.string({ description: 'Output format.', options: ['table', 'markdown'], default: 'table' }),
  };

  async run(): Promise<SweepComparison> {
    const { args, flags } = await this.parse(Compare);
    const thresholds = (flags.threshold ?? []).map(parseThreshold);
    const baseline = readAllRuns([args.baseline]);
    const candidate = readAllRuns([args.candidate]);
    const known = new Set(['spread', 'nll', ...availableMetrics(candidate)]);
    for (const name of [flags.metric, ...thresholds.map((t) => t.quantity)]) {
      if (!known.has(name))
        throw new UserError(
          `Unknown quantity "${name}"${didYouMean(name, [...known])}: use one of ${[...known].join(', ')}.`,
        );
    }
    const comparison = compareSweeps(baseline, candidate, { metric: flags.metric, thresholds });
    if (!this.jsonEnabled()) {
      const head = [
        'task',
        'adapter',
        'pairs',
        'baseline',
        'candidate',
        `Δ ${flags.metric}`,
        'Δ spread',
        'Δ NLL',
        'p',
        'verdict',
      ];
      if (flags.format === 'markdown') {
        const verdict = comparison.regressed ? '**Regression**' : 'No regression';
        this.log(`${verdict}: ${args.candidate} against ${args.baseline} (median ${flags.metric}).\n`);
        this.log(markdownGrid({ head, rows: rows(comparison) }));
      } else {
        this.log(terminalGrid({ head, rows: rows(comparison) }));
      }
    }
    if (comparison.regressed) {
      const first = comparison.movements.find((m) => m.violations.length > 0)!;
      this.logToStderr(
        `Regression: ${first.task}/${first.adapter} crossed ${first.violations.map((v) => v.threshold).join(', ')}` +
          `${comparison.movements.filter((m) => m.violations.length > 0).length > 1 ? ' (and more, above)' : ''}.`,
      );
      process.exitCode = 1;
    }
    return comparison;
  }
}
