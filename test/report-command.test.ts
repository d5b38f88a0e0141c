/**
 * `mceval report`, `compare` and `history` on real sweeps: every report format from a two-adapter demo sweep (JSON
 * checked against schemas/report.schema.json; HTML opened in headless Chromium, each chart screenshot checked for
 * drawn pixels), nightly regression checks with their exit codes, and history over two nights.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { PNG } from 'pngjs';
import { packagePath } from '../src/paths.js';
import { mceval } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
let dir: string;
let sweep: string;

const DEMO = ['--task', 'demo-sentiment', '--limit', '32', '--epochs', '1', '--quiet'];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'mceval-report-'));
  sweep = join(dir, 'sweep');
  const run = mceval([
    'run',
    ...DEMO,
    '--adapter',
    'lora,dora',
    '--grid',
    'lr=1e-3,3e-3',
    '--grid',
    'bs=8,16',
    '--train-limit',
    '64',
    '--out',
    sweep,
  ]);
  assert.equal(run.code, 0, run.stderr);
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('report renders every format; the JSON follows its schema; LaTeX uses booktabs with the best in bold', () => {
  const render = (format: string) => {
    const result = mceval(['report', sweep, '--reference', 'lora', '--format', format]);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout;
  };
  const table = render('table');
  assert.match(table, /Median accuracy \(spread\) across the grid[\s\S]*│ lora +│ \d\.\d{4} \(\d\.\d{4}\)/);
  assert.match(table, /Against lora on matching grid points[\s\S]*│ demo-sentiment │ dora +│ 4 +│ \d\/\d\/\d/);
  assert.match(
    render('markdown'),
    /\| adapter \| demo-sentiment \|\n\| --- \| ---: \|\n\| lora \| \*\*\d\.\d{4} \(\d\.\d{4}\)\*\* \|/,
  );
  const latex = render('latex');
  for (const piece of [
    '\\toprule',
    '\\midrule',
    '\\bottomrule',
    '\\textbf{',
    'mean $\\pm$ std',
    '\\usepackage{booktabs}',
  ]) {
    assert.ok(latex.includes(piece), piece);
  }
  const csv = render('csv').split('\n');
  assert.match(
    csv[0]!,
    /^metric,task,adapter,runs,diverged,median,spread,best,worst,q1,q3,iqr,mean,std,extrinsic,intrinsic/,
  );
  assert.match(csv[0]!, /wilcoxon_pvalue,wilcoxon_method$/);
  const json = JSON.parse(render('json')) as {
    adapters: string[];
    cells: Record<string, unknown>[];
    comparisons: { pairs: number }[];
  };
  const schema = JSON.parse(readFileSync(packagePath('schemas', 'report.schema.json'), 'utf8'));
  const validate = new Ajv({ allErrors: true }).compile(schema);
  assert.equal(validate(json), true, JSON.stringify(validate.errors));
  assert.deepEqual(json.adapters, ['lora', 'dora']);
  assert.equal(json.comparisons[0].pairs, 4);
  // The schema rejects what it should: a missing field fails validation.
  delete json.cells[0].median;
  assert.equal(validate(json), false, 'a cell without its median must not validate');
  // The same seed gives the same bootstrap interval.
  assert.deepEqual(
    JSON.parse(render('json')).comparisons[0].interval,
    JSON.parse(render('json')).comparisons[0].interval,
  );
});

test('report errors are one line: unknown metric, unknown reference, a folder without a store', () => {
  const cases: [string[], RegExp][] = [
    [['report', sweep, '--metric', 'bleu'], /^Error: No run has the metric "bleu": use one of accuracy, nll/],
    [
      ['report', sweep, '--reference', 'ia3'],
      /^Error: --reference ia3 is not an adapter of these runs: use one of lora, dora\.\n$/,
    ],
    [['report', dir], /^Error: .* has no run store \(mceval\.sqlite\): pass the --out folder of "mceval run"\.\n$/],
  ];
  for (const [args, expected] of cases) {
    const result = mceval(args);
    assert.equal(result.code, 2, args.join(' '));
    assert.match(result.stderr, expected);
  }
});

test(
  'the HTML report in headless Chromium: every chart drawn',
  { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (Debian package chromium; .ci/run installs it)` },
  async () => {
    const html = join(dir, 'report.html');
    assert.equal(mceval(['report', sweep, '--format', 'html', '--output', html]).code, 0);
    const page = readFileSync(html, 'utf8');
    assert.ok(!/<script|https?:\/\/(?!www\.w3\.org)/.test(page), 'self-contained: no script, no network');
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
      ],
    });
    try {
      const tab = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      await tab.goto(`file://${html}`);
      const charts = tab.locator('figure.chart');
      const names = await charts.evaluateAll((figures) => figures.map((f) => f.getAttribute('data-chart')));
      assert.deepEqual(names, ['box:demo-sentiment', 'heatmap:demo-sentiment', 'loss:demo-sentiment']);
      for (let i = 0; i < names.length; i++) {
        const png = PNG.sync.read(await charts.nth(i).screenshot());
        let inked = 0;
        const colours = new Set<number>();
        for (let p = 0; p < png.data.length; p += 4) {
          const [r, g, b] = [png.data[p]!, png.data[p + 1]!, png.data[p + 2]!];
          if (r < 235 || g < 235 || b < 235) inked += 1;
          colours.add((r << 16) | (g << 8) | b);
        }
        const share = inked / (png.width * png.height);
        assert.ok(png.width > 100 && png.height > 100, `${names[i]} is ${png.width}×${png.height}`);
        assert.ok(
          share > 0.02 && colours.size > 8,
          `${names[i]}: ${(share * 100).toFixed(1)}% inked, ${colours.size} colours`,
        );
      }
      const shot = join(tmpdir(), 'mceval-report-screenshot.png');
      await tab.screenshot({ path: shot, fullPage: true });
      console.log(`# full-page screenshot: ${shot}`);
    } finally {
      await browser.close();
    }
  },
);

test('compare: identical sweeps exit 0; a worse candidate exits 1 naming task, adapter and metric; bad input exits 2', () => {
  const baseline = join(dir, 'baseline');
  const worse = join(dir, 'worse');
  const common = [
    ...DEMO.slice(0, 2),
    '--adapter',
    'lora',
    '--grid',
    'lr=3e-3,1e-2',
    '--grid',
    'bs=32',
    '--limit',
    '64',
    '--epochs',
    '2',
    '--quiet',
  ];
  assert.equal(mceval(['run', ...common, '--train-limit', '480', '--out', baseline]).code, 0);
  // The same plan, all but untrained: every grid point matches, every score falls.
  assert.equal(mceval(['run', ...common, '--train-limit', '16', '--out', worse]).code, 0);
  const thresholds = ['--threshold', 'accuracy=-0.01', '--threshold', 'spread=+0.02', '--threshold', 'nll=+0.05'];

  const same = mceval(['compare', baseline, join(baseline, 'results.json'), ...thresholds]);
  assert.equal(same.code, 0, same.stderr);
  assert.match(same.stdout, /│ demo-sentiment │ lora +│ 2 +│ .*│ ok +│/);

  const regressed = mceval(['compare', baseline, worse, ...thresholds, '--format', 'markdown']);
  assert.equal(regressed.code, 1, regressed.stderr);
  assert.match(regressed.stdout, /^\*\*Regression\*\*/);
  assert.match(regressed.stdout, /\| demo-sentiment \| lora \| 2 \| .*REGRESSED: accuracy=-0\.01 \(moved -0\.\d+\)/);
  assert.match(regressed.stderr, /^Regression: demo-sentiment\/lora crossed accuracy=-0\.01/);

  const broken = join(dir, 'broken.json');
  writeFileSync(broken, '{"runs": 3}');
  const unusable: [string[], RegExp][] = [
    [
      ['compare', baseline, worse, '--threshold', 'accuracy=0.01'],
      /^Error: Malformed --threshold "accuracy=0\.01": expected NAME=\+V or NAME=-V/,
    ],
    [['compare', baseline, join(dir, 'nope')], /^Error: .*nope does not exist/],
    [['compare', baseline, broken], /^Error: .*broken\.json has no "runs" list of mceval runs/],
    [['compare', baseline, sweep], /^Error: No run of the candidate matches one of the baseline/],
    [['compare', baseline, worse, '--threshold', 'bleu=+1'], /^Error: Unknown quantity "bleu": use one of/],
    [
      ['compare', baseline, worse, '--threshold', 'acuracy=-0.01'],
      /^Error: Unknown quantity "acuracy" \(did you mean accuracy\?\): use one of/,
    ],
    [['report', sweep, '--metric', 'nl'], /^Error: No run has the metric "nl" \(did you mean nll\?\)/],
  ];
  for (const [args, expected] of unusable) {
    const result = mceval(args);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, expected);
    assert.equal(result.stderr.trim().split('\n').length, 1);
  }
});

test('history: the median per adapter over nights, in time order, as a table and an HTML chart', () => {
  const first = join(dir, 'night-1');
  const second = join(dir, 'night-2');
  const night = (out: string, limit: string) =>
    mceval([
      'run',
      ...DEMO,
      '--adapter',
      'lora',
      '--grid',
      'lr=3e-3',
      '--grid',
      'bs=16',
      '--train-limit',
      limit,
      '--out',
      out,
    ]);
  assert.equal(night(first, '32').code, 0);
  assert.equal(night(second, '64').code, 0);
  const table = mceval(['history', second, first]);
  assert.equal(table.code, 0, table.stderr);
  const rows = table.stdout.split('\n').filter((line) => line.includes('night-'));
  assert.deepEqual(
    rows.map((line) => /night-\d/.exec(line)![0]),
    ['night-1', 'night-2'],
  );
  const html = join(dir, 'history.html');
  assert.equal(mceval(['history', first, second, '--format', 'html', '--output', html]).code, 0);
  assert.match(readFileSync(html, 'utf8'), /<figure class="chart" data-chart="history"><svg/);
});
