import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { writeOutput } from '../cli/output-file.js';
import { buildReport, type Report } from '../report/report-model.js';
import { readAllRuns } from '../report/sources.js';
import { renderLatex, renderMarkdown, renderTerminal } from '../report/formats/text.js';
import { renderCsv, reportJson } from '../report/formats/data.js';
import { renderHtml } from '../report/formats/html.js';

const FORMATS = ['table', 'markdown', 'latex', 'csv', 'json', 'html'] as const;

export default class ReportCommand extends BaseCommand {
  static override summary = 'Tables, statistics and charts from one or more run stores: the paper robustness table.';
  static override description =
    'DIR is a run store (the --out of "mceval run", merged shard stores included) or a results.json. Per task × ' +
    'adapter: the median and spread of the metric across the grid, best, worst, IQR, mean ± std, extrinsic and ' +
    'intrinsic robustness, runs and diverged runs. With --reference, every other adapter against it on matching grid ' +
    'points (same task, lr, batch size, seed): win/tie/loss, the Wilcoxon signed-rank test as scipy.stats.wilcoxon ' +
    'computes it (two-sided; its method named), and a seeded bootstrap 95% interval of the median difference. ' +
    'JSON follows schemas/report.schema.json; HTML is one self-contained file with box plots, heat maps and loss curves.';
  static override examples = [
    '<%= config.bin %> report ./mceval-runs',
    '<%= config.bin %> report ./runs/rte ./runs/mrpc --reference lora --format latex > table.tex',
    '<%= config.bin %> report ./mceval-runs --format html --output report.html',
  ];
  static override strict = false;
  static override args = {
    dir: Args.string({ description: 'Run store folders or results.json files.', required: true }),
  };
  static override flags = {
    format: Flags.string({ description: 'Output format.', options: [...FORMATS], default: 'table' }),
    metric: Flags.string({
      description: 'The metric: accuracy, nll, f1, mcc, or a task metric (pass@1, …).',
      default: 'accuracy',
    }),
    reference: Flags.string({
      description: 'Compare every other adapter with this one (Wilcoxon, win/tie/loss, bootstrap).',
    }),
    seed: Flags.integer({ description: 'Seed of the bootstrap.', default: 0 }),
    output: Flags.string({ char: 'o', description: 'Write to this file instead of stdout.' }),
  };

  async run(): Promise<Report> {
    const { argv, flags } = await this.parse(ReportCommand);
    const runs = readAllRuns(argv as string[]);
    const report = buildReport(runs, {
      metric: flags.metric,
      seed: flags.seed,
      ...(flags.reference === undefined ? {} : { reference: flags.reference }),
    });
    if (this.jsonEnabled()) return report;
    const text = await (async () => {
      switch (flags.format as (typeof FORMATS)[number]) {
        case 'markdown':
          return renderMarkdown(report);
        case 'latex':
          return renderLatex(report);
        case 'csv':
          return renderCsv(report);
        case 'json':
          return `${JSON.stringify(reportJson(report), null, 2)}\n`;
        case 'html':
          return renderHtml(report, runs);
        default:
          return `${renderTerminal(report)}\n`;
      }
    })();
    writeOutput(flags.output, text, (line) => this.log(line));
    return report;
  }
}
