/**
 * The report's charts, as Vega-Lite specifications compiled and rendered to SVG by Vega on the server (no browser, no
 * canvas): box plots of a metric per adapter across the grid (the paper's Figure 4), heat maps of the metric over
 * learning rate × batch size per adapter, training-loss curves per run, and a metric's median over nightly stores.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const FONT = { config: { font: 'DejaVu Sans, Helvetica, Arial, sans-serif', view: { stroke: '#ddd' } } } as const;

export function boxPlot(
  title: string,
  metric: string,
  values: readonly { adapter: string; score: number }[],
): TopLevelSpec {
  return {
    ...FONT,
    title,
    width: Math.max(160, 70 * new Set(values.map((v) => v.adapter)).size),
    height: 220,
    data: { values: [...values] },
    mark: { type: 'boxplot', extent: 'min-max', size: 28 },
    encoding: {
      x: { field: 'adapter', type: 'nominal', title: null, axis: { labelAngle: 0 } },
      y: { field: 'score', type: 'quantitative', title: metric, scale: { zero: false } },
      color: { field: 'adapter', type: 'nominal', legend: null },
    },
  };
}

export function heatMap(
  title: string,
  metric: string,
  values: readonly { adapter: string; lr: string; bs: string; score: number }[],
): TopLevelSpec {
  const scores = values.map((v) => v.score);
  const middle = (Math.min(...scores) + Math.max(...scores)) / 2;
  return {
    ...FONT,
    title,
    data: { values: [...values] },
    facet: { column: { field: 'adapter', type: 'nominal', title: null } },
    spec: {
      width: 150,
      height: 120,
      layer: [
        {
          mark: 'rect',
          encoding: {
            x: { field: 'lr', type: 'ordinal', title: 'learning rate', sort: 'ascending' },
            y: { field: 'bs', type: 'ordinal', title: 'batch size', sort: 'ascending' },
            color: { field: 'score', type: 'quantitative', title: metric, scale: { scheme: 'viridis' } },
          },
        },
        {
          mark: { type: 'text', fontSize: 10 },
          encoding: {
            x: { field: 'lr', type: 'ordinal', sort: 'ascending' },
            y: { field: 'bs', type: 'ordinal', sort: 'ascending' },
            text: { field: 'score', type: 'quantitative', format: '.3f' },
            // Dark text on viridis's light (high) end, light text on its dark end.
            color: { condition: { test: `datum.score > ${middle}`, value: '#222' }, value: 'white' },
          },
        },
      ],
    },
  };
}

/** Line charts, one panel per value of `column`, one line per value of `color`. */
function lineFacets(
  title: string,
  values: readonly object[],
  layout: {
    readonly column: string;
    readonly x: { readonly field: string; readonly type: 'quantitative' | 'temporal'; readonly title: string | null };
    readonly y: { readonly field: string; readonly title: string };
    readonly color: { readonly field: string; readonly title: string };
    readonly size: readonly [number, number];
    readonly points: boolean;
  },
): TopLevelSpec {
  return {
    ...FONT,
    title,
    data: { values: [...values] },
    facet: { column: { field: layout.column, type: 'nominal', title: null } },
    spec: {
      width: layout.size[0],
      height: layout.size[1],
      mark: { type: 'line', strokeWidth: 1.2, point: layout.points },
      encoding: {
        x: layout.x,
        y: { ...layout.y, type: 'quantitative', scale: { zero: false } },
        color: { ...layout.color, type: 'nominal' },
      },
    },
  };
}

export function lossCurves(
  title: string,
  values: readonly { adapter: string; run: string; step: number; loss: number }[],
): TopLevelSpec {
  return lineFacets(title, values, {
    column: 'adapter',
    x: { field: 'step', type: 'quantitative', title: 'step' },
    y: { field: 'loss', title: 'training loss' },
    color: { field: 'run', title: 'lr, bs' },
    size: [220, 160],
    points: false,
  });
}

export function historyChart(
  title: string,
  metric: string,
  values: readonly { date: string; adapter: string; task: string; median: number }[],
): TopLevelSpec {
  return lineFacets(title, values, {
    column: 'task',
    x: { field: 'date', type: 'temporal', title: null },
    y: { field: 'median', title: `median ${metric}` },
    color: { field: 'adapter', title: 'adapter' },
    size: [260, 180],
    points: true,
  });
}
