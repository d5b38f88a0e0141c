/**
 * A report as one self-contained HTML file: the tables, then per task a box plot of the metric per adapter across the
 * grid, a heat map over learning rate × batch size per adapter, and the training-loss curve of every run (from its
 * steps.jsonl, when the source kept it). Charts are inline SVG rendered on the server; the page loads nothing.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { boxPlot, heatMap, lossCurves, renderSvg } from '../charts.js';
import { metricValue, type Report } from '../report-model.js';
import type { ReportRun } from '../sources.js';
import { reportTables, type TextTable } from './rows.js';

export interface HtmlSection {
  readonly heading: string;
  readonly tables?: readonly TextTable[];
  /** name → Vega-Lite spec; each becomes a <figure data-chart="name"> with its SVG. */
  readonly charts?: readonly { readonly name: string; readonly spec: TopLevelSpec }[];
}

const escapeHtml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function htmlTable(table: TextTable): string {
  const head = table.head.map((cell) => `<th>${escapeHtml(cell)}</th>`).join('');
  const rows = table.rows
    .map(
      (row, r) =>
        `<tr>${row
          .map((cell, c) => {
            const text = escapeHtml(cell);
            return `<td>${table.best?.[r]?.[c] === true ? `<strong>${text}</strong>` : text}</td>`;
          })
          .join('')}</tr>`,
    )
    .join('\n');
  return `<table><caption>${escapeHtml(table.title)}</caption><thead><tr>${head}</tr></thead><tbody>\n${rows}\n</tbody></table>`;
}

const STYLE = `body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:12px 0 20px;font-size:13px}caption{text-align:left;font-weight:bold;padding:4px 0}
th,td{border-bottom:1px solid #e5e5e5;padding:4px 10px;text-align:right}th:first-child,td:first-child{text-align:left}
figure.chart{display:inline-block;margin:8px 16px 16px 0;vertical-align:top}`;

export async function htmlPage(title: string, intro: string, sections: readonly HtmlSection[]): Promise<string> {
  const body: string[] = [];
  for (const section of sections) {
    body.push(`<section><h2>${escapeHtml(section.heading)}</h2>`);
    for (const table of section.tables ?? []) body.push(htmlTable(table));
    for (const chart of section.charts ?? []) {
      body.push(`<figure class="chart" data-chart="${escapeHtml(chart.name)}">${await renderSvg(chart.spec)}</figure>`);
    }
    body.push('</section>');
  }
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body>`,
    `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(intro)}</p>`,
    ...body,
    '</body></html>',
    '',
  ].join('\n');
}

/** A run's training losses from its steps.jsonl, thinned to at most `points` steps. */
function lossPoints(run: ReportRun, points = 200): { step: number; loss: number }[] {
  if (run.dir === undefined || !existsSync(join(run.dir, 'steps.jsonl'))) return [];
  const steps = readFileSync(join(run.dir, 'steps.jsonl'), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as { step: number; loss: number })
    .filter((entry) => Number.isFinite(entry.loss));
  const every = Math.max(1, Math.ceil(steps.length / points));
  return steps.filter((_, i) => i % every === 0 || i === steps.length - 1).map(({ step, loss }) => ({ step, loss }));
}

export async function renderHtml(report: Report, runs: readonly ReportRun[]): Promise<string> {
  const sections: HtmlSection[] = [{ heading: 'Tables', tables: reportTables(report) }];
  for (const task of report.tasks) {
    const taskRuns = runs.filter((run) => run.result.task === task);
    const scored = taskRuns.flatMap((run) => {
      const score = metricValue(run.result, report.metric);
      return score === undefined || !Number.isFinite(score) ? [] : [{ run, score }];
    });
    const charts = [
      {
        name: `box:${task}`,
        spec: boxPlot(
          `${task}: ${report.metric} across the grid`,
          report.metric,
          scored.map(({ run, score }) => ({ adapter: run.result.adapter, score })),
        ),
      },
      {
        name: `heatmap:${task}`,
        spec: heatMap(
          `${task}: ${report.metric} over learning rate × batch size`,
          report.metric,
          scored.map(({ run, score }) => ({
            adapter: run.result.adapter,
            lr: String(run.result.lr),
            bs: String(run.result.batch_size),
            score,
          })),
        ),
      },
    ];
    const losses = taskRuns.flatMap((run) =>
      lossPoints(run).map((point) => ({
        adapter: run.result.adapter,
        run: `lr ${run.result.lr}, bs ${run.result.batch_size}`,
        ...point,
      })),
    );
    if (losses.length > 0)
      charts.push({ name: `loss:${task}`, spec: lossCurves(`${task}: training loss per run`, losses) });
    sections.push({ heading: task, charts });
  }
  return htmlPage(
    `mceval report: ${report.metric}`,
    `${report.cells.length} task × adapter cells from ${runs.length} runs in ${report.sources.join(', ')}.`,
    sections,
  );
}
