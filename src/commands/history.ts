import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { writeOutput } from '../cli/output-file.js';
import { historyChart } from '../report/charts.js';
import { htmlPage } from '../report/formats/html.js';
import { fixed } from '../report/formats/rows.js';
import { markdownGrid, terminalGrid } from '../report/formats/text.js';
import { historyPoints, type HistoryPoint } from '../report/history-model.js';
import { readRuns } from '../report/sources.js';

export default class History extends BaseCommand {
  static override summary =
    "A metric's median per task × adapter over several nightly stores: a table or an HTML line chart.";
  static override description =
    'Each DIR is one night: a run store or a results.json. It is dated by when its last run finished. Rows are nights ' +
    'in time order; columns task/adapter medians of --metric across the grid.';
  static override examples = [
    '<%= config.bin %> history ./nightly/*',
    '<%= config.bin %> history ./nightly/* --metric nll --format html --output history.html',
  ];
  static override strict = false;
  static override args = {
    dir: Args.string({ description: 'Nightly run stores or results.json files.', required: true }),
  };
  static override flags = {
    metric: Flags.string({ description: 'The metric.', default: 'accuracy' }),
    format: Flags.string({ description: 'Output format.', options: ['table', 'markdown', 'html'], default: 'table' }),
    output: Flags.string({ char: 'o', description: 'Write to this file instead of stdout.' }),
  };

  async run(): Promise<HistoryPoint[]> {
    const { argv, flags } = await this.parse(History);
    const points = historyPoints((argv as string[]).map(readRuns), flags.metric);
    if (this.jsonEnabled()) return points;
    const columns = [...new Set(points.map((p) => `${p.task}/${p.adapter}`))];
    const nights = [...new Map(points.map((p) => [p.source, p.date])).entries()];
    const rows = nights.map(([source, date]) => [
      date,
      source,
      ...columns.map((column) => {
        const point = points.find((p) => p.source === source && `${p.task}/${p.adapter}` === column);
        return point === undefined ? '—' : fixed(point.median);
      }),
    ]);
    const head = ['finished', 'source', ...columns];
    let text: string;
    if (flags.format === 'html') {
      text = await htmlPage(`mceval history: median ${flags.metric}`, `${nights.length} nightly sweeps.`, [
        {
          heading: 'Over time',
          tables: [{ title: `Median ${flags.metric} across the grid`, head, rows }],
          charts: [
            {
              name: 'history',
              spec: historyChart(
                `Median ${flags.metric} per adapter`,
                flags.metric,
                points.filter((p) => p.date !== 'unknown'),
              ),
            },
          ],
        },
      ]);
    } else {
      text = `${(flags.format === 'markdown' ? markdownGrid : terminalGrid)({ head, rows })}\n`;
    }
    writeOutput(flags.output, text, (line) => this.log(line));
    return points;
  }
}
